"""Resolving the baseline: a given model, the newest pushed version, or none."""

from __future__ import annotations

import pytest

from components.errors import UserError
from components.evaluate import baseline


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_baseline_is_the_given_model_or_the_newest_version(tmp_path):
    _touch(tmp_path / "artifact" / "saved_model" / "saved_model.pb")
    for name in ("2", "10"):
        _touch(tmp_path / "serving" / "det" / name / "saved_model.pb")
    given = baseline.resolve_baseline(str(tmp_path / "artifact"), None, None)
    assert given.layout == "artifact"
    newest = baseline.resolve_baseline(None, str(tmp_path / "serving"), "det")
    assert newest.root.endswith("det/10") and newest.layout == "version"
    assert baseline.resolve_baseline(None, str(tmp_path / "empty"), "det") is None
    assert baseline.resolve_baseline(None, None, None) is None
    with pytest.raises(UserError, match="needs --model-name"):
        baseline.resolve_baseline(None, str(tmp_path / "serving"), None)
    with pytest.raises(UserError, match="not both"):
        baseline.resolve_baseline(str(tmp_path / "artifact"), str(tmp_path / "serving"), "det")
