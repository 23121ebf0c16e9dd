PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every version comes from the lock files (see `make lock`); pip itself is pinned here.
PIP_VERSION := 26.3
DEV_LOCK := requirements-dev.txt

IMAGE ?= nasdet:0.1.0

.PHONY: install test lint format run image golden lock clean

$(STAMP): pyproject.toml $(DEV_LOCK) container/requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet -c $(DEV_LOCK) setuptools wheel
	$(BIN)/python -m pip install --quiet --no-build-isolation -c $(DEV_LOCK) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# One pytest worker per CPU; each test file runs on one worker, so a file's module fixtures
# are built once and its end-to-end runs never overlap each other.
TEST_WORKERS ?= auto

test: $(STAMP) lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

run: $(STAMP)
	$(BIN)/nasdet run

image:
	DOCKER_BUILDKIT=1 docker build -f container/Dockerfile -t $(IMAGE) .

golden: $(STAMP)
	$(BIN)/python -m pipelines.compile_cmd --golden

# Re-resolve pyproject.toml into the lock files, keeping the present pins where they still fit
# (UPGRADE="--upgrade" or UPGRADE="--upgrade-package NAME" moves pins forward); then reinstall.
lock: | $(BIN)/uv
	$(BIN)/python container/lock_requirements.py $(UPGRADE)
	$(MAKE) install

# Only what `make lock` needs (a venv with the pinned uv), so that it runs even when
# pyproject.toml no longer agrees with the lock files.
$(BIN)/uv:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet -c $(DEV_LOCK) uv packaging

clean:
	rm -rf $(VENV) build *.egg-info
