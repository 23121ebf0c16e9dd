"""The ``nasdet`` entry point: --version, the command list, quiet --help of every command."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from pipelines import cli


def test_version_is_the_installed_distribution(capsys):
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"nasdet {metadata.version('nasdet')} (Python ")


def test_help_lists_every_command_and_an_unknown_one_is_one_line(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in cli.COMMANDS)
    assert cli.main(["predcit"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown command 'predcit'") and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_command_help_prints_usage_and_nothing_on_stderr(command):
    """No TensorFlow or Beam start-up lines: --help must not import them."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: nasdet {command}")
    assert done.stderr == ""
