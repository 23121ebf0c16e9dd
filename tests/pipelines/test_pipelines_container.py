"""The container: hadolint, the build context, and the Dockerfile's install in a fresh venv."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "container" / "Dockerfile"
LOCK = REPO / "container" / "requirements.txt"
HADOLINT = pathlib.Path(sys.executable).parent / "hadolint"


def test_hadolint_passes():
    if not HADOLINT.exists():
        pytest.skip("hadolint is not installed (dev extra)")
    result = subprocess.run(
        [str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_base_user_and_layers():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM tensorflow/tensorflow:2\.21\.0-gpu$", text, re.M)
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    # dependencies are installed before the code is copied (cache-friendly)
    assert text.index("-r requirements.txt") < text.index("COPY components")
    assert "--no-deps --no-build-isolation ." in text  # setuptools comes from the lock


def test_build_context_filter_keeps_what_the_image_copies():
    ignore = (REPO / "container" / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            copied.update(p.rstrip("/") for p in line.split()[1:-1])
    assert copied <= kept | {"requirements.txt"}, copied - kept
    assert "container/requirements.txt" in kept


def _install_commands() -> list[str]:
    """The ``pip install`` commands of the Dockerfile's RUN instructions, in order."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if line.startswith("RUN "):
            for part in line[4:].split("&&"):
                if "pip install" in part:
                    commands.append(" ".join(part.split()))
    return commands


@pytest.mark.slow
def test_dockerfile_install_in_fresh_venv(tmp_path):
    """Run the Dockerfile's install commands in a fresh venv, then compile the pipeline."""
    commands = _install_commands()
    assert len(commands) == 2, commands
    context = tmp_path / "opt-nasdet"  # WORKDIR /opt/nasdet after the COPY instructions
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copy(LOCK, context / "requirements.txt")
    for package in ("components", "pipelines"):
        shutil.copytree(
            REPO / package, context / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for command in commands:
        # The image build passes --no-cache-dir to keep its layers small; here the pip cache
        # may serve the wheels, which checks the same resolution without downloading 1 GB again.
        argv = [arg for arg in command.split() if arg != "--no-cache-dir"]
        assert argv[:4] == ["python3", "-m", "pip", "install"], command
        result = subprocess.run(
            [python, *argv[1:]], cwd=context, capture_output=True, text=True, env=env, timeout=1500
        )
        assert result.returncode == 0, (
            f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    check = subprocess.run(
        [
            str(venv / "bin" / "nasdet"),
            "compile",
            "--output",
            str(tmp_path / "nasdet.yaml"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr
    imports = subprocess.run(
        [python, "-c", "import tensorflow, keras_tuner, apache_beam, kfp, components.train"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert imports.returncode == 0, imports.stderr[-3000:]
