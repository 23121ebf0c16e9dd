PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

IMAGE ?= nasdet:0.1.0

.PHONY: install test lint format run image golden lock clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) lint
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/nasdet run

image:
	DOCKER_BUILDKIT=1 docker build -f container/Dockerfile -t $(IMAGE) .

golden: $(STAMP)
	$(BIN)/python -m pipelines.compile_cmd --golden

lock: $(STAMP)
	$(BIN)/python container/lock_requirements.py

clean:
	rm -rf $(VENV) build *.egg-info
