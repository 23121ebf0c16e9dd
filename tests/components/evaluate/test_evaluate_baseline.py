"""Finding models: Model artifact vs pushed version layout, newest version, no baseline."""

from __future__ import annotations

import pytest

from components.errors import UserError
from components.evaluate import baseline


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_artifact_and_version_layouts(tmp_path):
    _touch(tmp_path / "artifact" / "saved_model" / "saved_model.pb")
    _touch(tmp_path / "serving" / "det" / "7" / "saved_model.pb")
    art = baseline.locate_model(str(tmp_path / "artifact"))
    assert (art.layout, art.saved_model_dir) == (
        "artifact",
        str(tmp_path / "artifact" / "saved_model"),
    )
    ver = baseline.locate_model(str(tmp_path / "serving" / "det" / "7") + "/")
    assert (ver.layout, ver.saved_model_dir) == ("version", str(tmp_path / "serving" / "det" / "7"))
    with pytest.raises(UserError, match="holds no SavedModel"):
        baseline.locate_model(str(tmp_path / "serving"))
    with pytest.raises(UserError, match="does not exist"):
        baseline.locate_model(str(tmp_path / "nowhere"))


def test_newest_version_ignores_other_names_and_incomplete_dirs(tmp_path):
    root = tmp_path / "serving" / "det"
    for name in ("2", "10", ".tmp-push-abc", "11-old"):
        _touch(root / name / "saved_model.pb")
    (root / "12").mkdir()  # not a SavedModel: skipped
    _touch(root / ".last_version")
    assert baseline.integer_versions(str(root)) == [2, 10, 12]
    newest = baseline.newest_version(str(tmp_path / "serving"), "det")
    assert newest.root.endswith("det/10")
    assert baseline.newest_version(str(tmp_path / "serving"), "other") is None
    assert baseline.resolve_baseline(None, str(tmp_path / "empty"), "det") is None
    assert baseline.resolve_baseline(None, None, None) is None
    with pytest.raises(UserError, match="needs --model-name"):
        baseline.resolve_baseline(None, str(tmp_path / "serving"), None)
