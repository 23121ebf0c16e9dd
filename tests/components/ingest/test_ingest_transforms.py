"""The ingest DoFns and PTransforms, each on Beam's TestPipeline."""

from __future__ import annotations

import json
import random

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from components.data import example_codec
from components.data.labels import build_label_map
from components.data.records import QuarantineRecord, SourceBox, SourceClass, SourceImage
from components.ingest import split, stats, tfrecord
from components.ingest.stats import ImageStats, to_stats_json
from components.ingest.transforms import (
    QUARANTINE_TAG,
    STATS_TAG,
    StatsCombineFn,
    ValidateAndWriteShards,
    WriteQuarantine,
    WriteStats,
)

LABELS = build_label_map([SourceClass(1, "raccoon")])


def _sample_image(sample_dir, stem: str, boxes=()) -> SourceImage:
    return SourceImage(
        stem, f"{stem}.jpg", str(sample_dir / "images" / f"{stem}.jpg"), tuple(boxes)
    )


def test_validate_and_write_shards(sample_dir, tmp_path):
    box = SourceBox(1, 10, 10, 50, 60)
    stems = [f"raccoon-{i}" for i in range(1, 13)]
    items = [("train", _sample_image(sample_dir, stem, [box])) for stem in stems]
    items[0] = (
        "train",
        _sample_image(sample_dir, stems[0], [box, SourceBox(1, 5, 5, 5, 9, index=1)]),
    )
    missing = SourceImage("gone", "gone.jpg", str(sample_dir / "images" / "gone.jpg"), (box,))
    items.append(("val", missing))
    random.Random(0).shuffle(items)
    shards = {"train": 2, "val": 2}
    with test_pipeline.TestPipeline() as p:
        out = p | beam.Create(items) | ValidateAndWriteShards(str(tmp_path), LABELS, shards)
        assert_that(
            out["shards"] | beam.Map(lambda d: (d["split"], d["shard"])),
            equal_to([("train", 0), ("train", 1), ("val", 0), ("val", 1)]),
            label="files",
        )
        assert_that(
            out["shards"]
            | beam.Map(lambda d: (d["split"], d["examples"]))
            | beam.CombinePerKey(sum),
            equal_to([("train", 12), ("val", 0)]),
            label="counts",
        )
        assert_that(
            out[QUARANTINE_TAG] | beam.Map(lambda q: (q.kind, q.reason, q.image_id, q.boxes)),
            equal_to(
                [
                    ("box", "degenerate box", "raccoon-1", 1),
                    ("image", "missing image file", "gone", 1),
                ]
            ),
            label="quarantine",
        )
        assert_that(
            out[STATS_TAG]
            | beam.Map(lambda s: (s.split, s.accepted, s.boxes_read - s.boxes_accepted)),
            equal_to([("train", True, 1)] + [("train", True, 0)] * 11 + [("val", False, 1)]),
            label="stats",
        )
    ids = []
    for index in range(2):
        path = tmp_path / "Split-train" / f"data_tfrecord-{index:05d}-of-00002.gz"
        shard_ids = [_source_id(r) for r in tfrecord.read_gzip_tfrecord(str(path))]
        assert shard_ids == sorted(shard_ids) and shard_ids
        assert all(split.shard_index(i, 2) == index for i in shard_ids)
        ids += shard_ids
    assert sorted(ids) == sorted(stems)
    for index in range(2):  # empty shards exist and are valid
        path = tmp_path / "Split-val" / f"data_tfrecord-{index:05d}-of-00002.gz"
        assert list(tfrecord.read_gzip_tfrecord(str(path))) == []


def _source_id(record: bytes) -> str:
    return example_codec.decode_example(record)["image/source_id"][0].decode()


def test_write_quarantine_sorted_lines(tmp_path):
    records = [
        QuarantineRecord("box", "b.xml", "degenerate box", "b", 1, "box #2"),
        QuarantineRecord("image", "a.jpg", "missing image file", "a", 3),
        QuarantineRecord("box", "b.xml", "degenerate box", "b", 1, "box #1"),
    ]
    path = tmp_path / "quarantine.jsonl"
    with test_pipeline.TestPipeline() as p:
        _ = p | beam.Create(records) | WriteQuarantine(str(path))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(d["source"], d["detail"]) for d in lines] == [
        ("a.jpg", ""),
        ("b.xml", "box #1"),
        ("b.xml", "box #2"),
    ]
    assert set(lines[0]) == {"kind", "source", "reason", "image_id", "boxes", "detail"}
    empty = tmp_path / "none.jsonl"
    with test_pipeline.TestPipeline() as p:
        _ = p | beam.Create([], reshuffle=False) | WriteQuarantine(str(empty))
    assert empty.read_text() == ""


def _stats(split, accepted, boxes_read, boxes, classes=(), quarantine=()):
    return ImageStats(
        split=split,
        accepted=accepted,
        width=100 if accepted else 0,
        height=50 if accepted else 0,
        image_format="jpeg" if accepted else "",
        size_mismatch=False,
        reencoded=False,
        clipped_boxes=0,
        boxes_read=boxes_read,
        boxes_accepted=len(boxes),
        class_counts=tuple(classes),
        box_sizes=tuple(boxes),
        quarantine=tuple(quarantine),
    )


ITEMS = [
    _stats("train", True, 2, [(10.0, 10.0), (40.0, 40.0)], [("cat", 2)]),
    _stats("val", True, 2, [(100.0, 100.0)], [("dog", 1)], [("box", "degenerate box", 1)]),
    _stats("train", False, 3, [], quarantine=[("image", "missing image file", 3)]),
    QuarantineRecord("box", "x.json", "unknown category id", "7", 1),
]
CONTEXT = {
    "classes": ["cat", "dog"],
    "num_shards": {"train": 1, "val": 1},
    "val_fraction": 0.15,
    "test_fraction": 0.15,
    "split_source": "hash",
}


def test_stats_combine_fn_and_stats_json(tmp_path):
    path = tmp_path / "stats.json"
    with test_pipeline.TestPipeline() as p:
        result = (
            p
            | beam.Create(ITEMS)
            | WriteStats(str(path), images_read=3, boxes_read=8, context=CONTEXT)
        )
        assert_that(
            result
            | beam.Map(
                lambda s: (s["images"]["accepted"], s["boxes"]["quarantined"], s["reconciled"])
            ),
            equal_to([(2, 5, True)]),
        )
    stats = json.loads(path.read_text())
    assert stats["images"] == {"read": 3, "accepted": 2, "quarantined": 1}
    assert stats["boxes"] == {"read": 8, "accepted": 3, "quarantined": 5}
    assert stats["splits"]["train"] == {"images": 1, "boxes": 2, "shards": 1, "classes": {"cat": 2}}
    assert stats["classes"]["dog"] == {"id": 2, "boxes": 1, "images": 1}
    assert stats["box_size"]["coco_area"] == {"small": 1, "medium": 1, "large": 1}
    assert stats["box_size"]["width"] == {"min": 10.0, "max": 100.0, "mean": 50.0}
    reasons = {(q["kind"], q["reason"]): (q["records"], q["boxes"]) for q in stats["quarantine"]}
    assert reasons[("image", "missing image file")] == (1, 3)
    assert reasons[("box", "unknown category id")] == (1, 1)


def test_stats_merge_order_does_not_matter():
    fn = StatsCombineFn()
    parts = []
    for chunk in (ITEMS[:1], ITEMS[1:3], ITEMS[3:]):
        acc = fn.create_accumulator()
        for item in chunk:
            acc = fn.add_input(acc, item)
        parts.append(acc)
    from components.ingest.stats import to_stats_json

    forward = to_stats_json(fn.merge_accumulators(parts), 3, 8, CONTEXT)
    backward = to_stats_json(fn.merge_accumulators(parts[::-1]), 3, 8, CONTEXT)
    assert forward == backward
    assert not to_stats_json(fn.merge_accumulators(parts), 4, 8, CONTEXT)["reconciled"]


def test_stats_json_does_not_depend_on_the_order_of_images():
    """Fractional COCO boxes summed in any order give the same stats.json (any engine, any merge)."""
    rng = random.Random(3)
    items = [
        _stats(
            "train",
            True,
            3,
            [(round(rng.uniform(1, 300), 2), round(rng.uniform(1, 300), 2)) for _ in range(3)],
            [("cat", 3)],
        )
        for _ in range(300)
    ]
    context = {**CONTEXT, "num_shards": {"train": 1, "val": 1}}
    results, sums = set(), set()
    for seed in range(12):
        order = items[:]
        random.Random(seed).shuffle(order)
        halves = [stats.empty_accumulator(), stats.empty_accumulator()]
        for i, item in enumerate(order):
            stats.add(halves[i % 2], item)
        merged = stats.merge(halves[:: 1 if seed % 2 else -1])
        sums.add(tuple(merged["box_wh"]))
        results.add(json.dumps(to_stats_json(merged, 300, 900, context), sort_keys=True))
    assert len(sums) == 1  # exact sums, not float sums that differ in the last bits
    assert len(results) == 1
