"""The Model artifact and pushed versions: locating the SavedModel, labels, fingerprint."""

from __future__ import annotations

import json

import pytest

from components.artifacts import model
from components.errors import UserError


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_locate_model_finds_both_layouts(tmp_path):
    _touch(tmp_path / "artifact" / model.SAVED_MODEL_DIR / model.SAVED_MODEL_PB)
    _touch(tmp_path / "serving" / "det" / "7" / model.SAVED_MODEL_PB)
    art = model.locate_model(str(tmp_path / "artifact"))
    assert (art.layout, art.root, art.saved_model_dir) == (
        "artifact",
        str(tmp_path / "artifact"),
        str(tmp_path / "artifact" / "saved_model"),
    )
    ver = model.locate_model(str(tmp_path / "serving" / "det" / "7") + "/")
    assert (ver.layout, ver.saved_model_dir) == ("version", str(tmp_path / "serving" / "det" / "7"))
    with pytest.raises(UserError, match="holds no SavedModel"):
        model.locate_model(str(tmp_path / "serving"))
    with pytest.raises(UserError, match="does not exist"):
        model.locate_model(str(tmp_path / "nowhere"))


def test_read_label_names(tmp_path):
    location = model.ModelLocation(str(tmp_path), str(tmp_path / "saved_model"), "artifact")
    assert model.read_label_names(location) is None
    labels = {"classes": [{"id": 1, "name": "cat", "source_id": 4}]}
    (tmp_path / model.LABELS_FILE).write_text(json.dumps(labels))
    assert model.read_label_names(location) == {1: "cat"}
    (tmp_path / model.LABELS_FILE).write_text("{}")
    with pytest.raises(UserError, match="is not a labels file"):
        model.read_label_names(location)


def test_model_fingerprint_covers_graph_and_variables(tmp_path):
    def saved_model(root, variables=b"v1"):
        _touch(root / model.SAVED_MODEL_PB, b"graph")
        _touch(root / model.VARIABLES_DIR / "variables.data-00000-of-00001", variables)
        _touch(root / "assets" / "ignored.txt", str(root).encode())
        return str(root)

    a, b = saved_model(tmp_path / "a"), saved_model(tmp_path / "b")
    assert model.model_fingerprint(a) == model.model_fingerprint(b)
    assert model.model_fingerprint(a).startswith("sha256:")
    c = saved_model(tmp_path / "c", variables=b"v2")
    assert model.model_fingerprint(a) != model.model_fingerprint(c)
