"""Output to an object-store URI: staged under a temporary prefix, moved into place on success
(on the in-memory object store of ``memory_store``, scheme ``memstore``)."""

from __future__ import annotations

import json
import posixpath

import pytest

from components.errors import UserError
from components.ingest import run


def test_remote_output_is_staged_and_moved(sample_dir, object_store):
    object_store["memstore://bucket/examples/old.txt"] = b"stale"
    summary = run(str(sample_dir / "annotations"), "voc", "memstore://bucket/examples")
    assert summary["images"]["accepted"] == 50
    names = sorted(object_store)
    assert all(name.startswith("memstore://bucket/examples/") for name in names)  # temp prefix gone
    assert "memstore://bucket/examples/old.txt" not in object_store
    expected = {"labels.json", "stats.json", "quarantine.jsonl", "report.md", "report.png"}
    assert expected <= {posixpath.basename(n) for n in names}
    assert any("/Split-train/data_tfrecord-00000-of-00001.gz" in n for n in names)
    assert json.loads(object_store["memstore://bucket/examples/stats.json"])["reconciled"]


def test_remote_output_failure_leaves_nothing(broken_corpus, tmp_path, object_store):
    corpus = broken_corpus.make_coco_case(tmp_path / "in", "missing_image")
    (tmp_path / "in" / "images" / "good.jpg").unlink()
    object_store["memstore://bucket/examples/stats.json"] = b"{}"
    with pytest.raises(UserError, match="no image passed validation"):
        run(corpus.input_path, "coco", "memstore://bucket/examples", images_dir=corpus.images_dir)
    assert sorted(object_store) == [
        "memstore://bucket/examples/stats.json"
    ]  # previous artifact untouched
