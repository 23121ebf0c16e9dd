"""Round trips: ingest real datasets, read the shards back with TensorFlow, compare with the source."""

from __future__ import annotations

import filecmp
import json
import os

from components import files
from components.ingest import run


def _assert_identical(a, b) -> None:
    names = files.walk_files(str(a))
    assert names == files.walk_files(str(b))
    for name in names:
        if name.startswith("Split-") or name in ("stats.json", "quarantine.jsonl", "labels.json"):
            assert filecmp.cmp(os.path.join(a, name), os.path.join(b, name), shallow=False), name


def _check_layout_and_stats(out, examples) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    assert stats["reconciled"]
    for key in ("images", "boxes"):
        assert stats[key]["read"] == stats[key]["accepted"] + stats[key]["quarantined"]
    for split, split_examples in examples.items():
        assert stats["splits"][split]["images"] == len(split_examples)
        ids = [e["image/source_id"] for e in split_examples]
        assert ids == sorted(ids)  # one shard per split here: sorted by image id
    lines = (out / "quarantine.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["boxes"] for line in lines) == stats["boxes"]["quarantined"]
    assert "# Ingest report" in (out / "report.md").read_text()
    return stats


def test_sample_round_trip_and_rerun_identical(sample_dir, tmp_path, helpers):
    out, again = tmp_path / "examples", tmp_path / "again"
    summary = run(
        str(sample_dir / "annotations"), "voc", str(out), images_dir=str(sample_dir / "images")
    )
    run(str(sample_dir / "annotations"), "voc", str(again))
    assert summary["images"] == {"read": 50, "accepted": 50, "quarantined": 0}
    assert all(summary["splits"][name] > 0 for name in ("train", "val", "test"))
    examples = helpers.read_examples_tf(out)
    source = helpers.voc_source(sample_dir / "annotations", sample_dir / "images")
    boxes = helpers.check_examples_match(examples, source, {"raccoon": 1})
    assert boxes == sum(len(s["boxes"]) for s in source.values()) == summary["boxes"]["accepted"]
    assert sum(len(v) for v in examples.values()) == 50
    stats = _check_layout_and_stats(out, examples)
    assert stats["classes"]["raccoon"]["boxes"] == boxes
    labels = json.loads((out / "labels.json").read_text())
    assert labels == {"classes": [{"id": 1, "name": "raccoon", "source_id": 1}]}
    first = examples["train"][0]
    image_file = sample_dir / "images" / first["image/filename"]
    assert first["image/encoded"] == image_file.read_bytes()  # JPEG bytes kept as they are
    _assert_identical(out, again)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary leftovers


def test_raccoon_voc_round_trip(shared_datasets, tmp_path, helpers):
    raccoon = shared_datasets / "raccoon"
    out, again = tmp_path / "examples", tmp_path / "again"
    summary = run(str(raccoon / "annotations"), "voc", str(out), images_dir=str(raccoon / "images"))
    examples = helpers.read_examples_tf(out)
    source = helpers.voc_source(raccoon / "annotations", raccoon / "images")
    boxes = helpers.check_examples_match(examples, source, {"raccoon": 1})
    assert summary["images"]["accepted"] == len(source) == sum(len(v) for v in examples.values())
    assert summary["boxes"]["accepted"] == boxes
    _check_layout_and_stats(out, examples)
    run(str(raccoon / "annotations"), "voc", str(again), images_dir=str(raccoon / "images"))
    _assert_identical(out, again)


def test_coco128_round_trip(shared_datasets, tmp_path, helpers):
    coco = shared_datasets / "coco128"
    json_path = coco / "annotations" / "instances_train2017.json"
    out, again = tmp_path / "examples", tmp_path / "again"
    summary = run(str(json_path), "coco", str(out), images_dir=str(coco / "train2017"))
    source, categories = helpers.coco_source(json_path, coco / "train2017")
    label_of = {c["name"]: i for i, c in enumerate(categories, start=1)}
    examples = helpers.read_examples_tf(out)
    boxes = helpers.check_examples_match(examples, source, label_of)
    assert summary["images"]["accepted"] == len(source) == sum(len(v) for v in examples.values())
    assert summary["boxes"]["accepted"] == boxes
    stats = _check_layout_and_stats(out, examples)
    labels = json.loads((out / "labels.json").read_text())["classes"]
    assert [(c["id"], c["name"], c["source_id"]) for c in labels] == [
        (i, c["name"], c["id"]) for i, c in enumerate(categories, start=1)
    ]
    assert sum(c["boxes"] for c in stats["classes"].values()) == boxes
    run(str(json_path), "coco", str(again), images_dir=str(coco / "train2017"))
    _assert_identical(out, again)
