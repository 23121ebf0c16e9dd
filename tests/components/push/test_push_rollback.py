"""Rollback re-publishes an earlier version as the newest one: served, traced, reversible."""

from __future__ import annotations

import json

import pytest

from components.artifacts.model import model_fingerprint
from components.errors import UserError
from components.push import cli
from components.push import run as push_run
from components.push.rollback import run as rollback


def _push_json(root, version) -> dict:
    return json.loads((root / "det" / str(version) / "push.json").read_text())


@pytest.fixture
def two_versions(tmp_path, model_and_blessing, other_model):
    """Version 1 holds the first model, version 2 (live) the other one."""
    root = tmp_path / "serving"
    push_run(*model_and_blessing, str(root), "det")
    push_run(other_model[0], other_model[1], str(root), "det")
    return root


def test_rollback_serves_the_previous_model_as_a_new_version(two_versions, model_and_blessing):
    root = two_versions
    result = rollback(str(root), "det")
    assert (result["version"], result["republished_from"], result["rolled_back_from"]) == (3, 1, 2)
    first_fp = model_fingerprint(f"{model_and_blessing[0]}/saved_model")
    assert model_fingerprint(str(root / "det" / "3")) == first_fp
    record = _push_json(root, 3)
    assert (record["version"], record["republished_from"], record["rolled_back_from"]) == (3, 1, 2)
    assert record["model_fingerprint"] == _push_json(root, 1)["model_fingerprint"]
    card = json.loads((root / "det" / "3" / "model_card.json").read_text())
    assert card["version"] == 3
    assert card["gate"]["reasons"][-1] == "Re-published from version 1, rolling back version 2."
    assert sorted(p.name for p in (root / "det").iterdir() if p.name.isdigit()) == ["1", "2", "3"]


def test_a_second_rollback_does_not_return_to_what_was_rolled_back(two_versions):
    rollback(str(two_versions), "det")
    with pytest.raises(UserError, match="no earlier version of another model"):
        rollback(str(two_versions), "det")
    undo = rollback(str(two_versions), "det", to=2)  # reversible by naming the version
    assert (undo["version"], undo["republished_from"], undo["rolled_back_from"]) == (4, 2, 3)


def test_bad_rollbacks_are_one_line_errors(tmp_path, two_versions, capsys):
    base = ["--serving-root", str(two_versions), "--model-name", "det"]
    for extra, message in (
        (["--to", "2"], "version 2 is already the one served"),
        (["--to", "7"], "version 7 is not a pushed version"),
    ):
        assert cli.main_rollback([*base, *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    empty = ["--serving-root", str(tmp_path / "none"), "--model-name", "det"]
    assert cli.main_rollback(empty) == 2
    assert "no pushed version" in capsys.readouterr().err
    assert cli.main_rollback(base) == 0
    assert "now served as version 3" in capsys.readouterr().out
