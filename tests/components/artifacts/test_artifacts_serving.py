"""The serving volume: integer versions, the newest complete one, push.json; the blessing."""

from __future__ import annotations

import json

import pytest

from components.artifacts import evaluation, serving
from components.errors import UserError


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_integer_versions_ignore_other_names_and_newest_needs_a_saved_model(tmp_path):
    root = tmp_path / "serving" / "det"
    for name in ("2", "10", ".tmp-push-abc", "11-old"):
        _touch(root / name / "saved_model.pb")
    (root / "12").mkdir()  # not a SavedModel: no version to serve
    _touch(root / ".last_version")
    assert serving.integer_versions(str(root)) == [2, 10, 12]
    assert serving.integer_versions(str(tmp_path / "missing")) == []
    assert serving.model_root(str(tmp_path / "serving") + "/", "det") == str(root)
    newest = serving.newest_version(str(tmp_path / "serving"), "det")
    assert (newest.root, newest.saved_model_dir, newest.layout) == (
        str(root / "10"),
        str(root / "10"),
        "version",
    )
    assert serving.newest_version(str(tmp_path / "serving"), "other") is None


def test_push_record_is_replaced(tmp_path):
    serving.write_push_record(str(tmp_path), {"version": 1})
    serving.write_push_record(str(tmp_path), {"version": 2})
    assert (tmp_path / serving.PUSH_FILE).read_text() == json.dumps({"version": 2}, indent=2) + "\n"
    assert serving.EXTRA_FILES == ("labels.json", "detector_config.json", "model.weights.h5")


def test_read_blessing(tmp_path):
    (tmp_path / evaluation.BLESSING_FILE).write_text(json.dumps({"blessed": True}))
    assert evaluation.read_blessing(str(tmp_path)) == {"blessed": True}
    assert evaluation.read_blessing(str(tmp_path / evaluation.BLESSING_FILE))["blessed"] is True
    (tmp_path / evaluation.BLESSING_FILE).write_text(json.dumps({"blessed": "yes"}))
    with pytest.raises(UserError, match="not a blessing file"):
        evaluation.read_blessing(str(tmp_path))
    with pytest.raises(UserError, match="does not exist"):
        evaluation.read_blessing(str(tmp_path / "missing.json"))
