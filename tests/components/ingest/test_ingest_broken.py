"""End-to-end runs on broken corpora: every bad record is in quarantine.jsonl, counts reconcile."""

from __future__ import annotations

import json

import pytest

from components.ingest import run


def _ingest(corpus, out) -> tuple[dict, list[dict], dict]:
    summary = run(
        corpus.input_path,
        corpus.fmt,
        str(out),
        images_dir=corpus.images_dir,
        classes_file=corpus.classes_file,
    )
    lines = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    stats = json.loads((out / "stats.json").read_text())
    return summary, lines, stats


@pytest.mark.parametrize("builder", ["make_coco_corpus", "make_voc_corpus", "make_yolo_corpus"])
def test_broken_corpus_end_to_end(broken_corpus, tmp_path, helpers, builder):
    corpus = getattr(broken_corpus, builder)(tmp_path / "in")
    out = tmp_path / "examples"
    summary, lines, stats = _ingest(corpus, out)
    got = sorted((q["kind"], q["reason"], q["image_id"], q["boxes"]) for q in lines)
    assert got == corpus.expected
    assert all(q["source"] for q in lines)
    assert stats["reconciled"]
    assert summary["images"] == {
        "read": corpus.images_read,
        "accepted": corpus.images_accepted,
        "quarantined": corpus.images_read - corpus.images_accepted,
    }
    assert summary["boxes"] == {
        "read": corpus.boxes_read,
        "accepted": corpus.boxes_accepted,
        "quarantined": corpus.boxes_read - corpus.boxes_accepted,
    }
    by_reason = {}
    for q in lines:
        by_reason[(q["kind"], q["reason"])] = by_reason.get((q["kind"], q["reason"]), 0) + 1
    assert {(q["kind"], q["reason"]): q["records"] for q in stats["quarantine"]} == by_reason
    examples = helpers.read_examples_tf(out)
    formats = {
        e["image/source_id"]: e["image/format"] for split in examples.values() for e in split
    }
    assert len(formats) == corpus.images_accepted
    for image_id, fmt in corpus.formats.items():
        assert formats[image_id] == fmt
    assert "## Quarantine" in (out / "report.md").read_text()


def test_coco_corpus_counts_formats_and_notes(broken_corpus, tmp_path):
    corpus = broken_corpus.make_coco_corpus(tmp_path / "in")
    _, _, stats = _ingest(corpus, tmp_path / "examples")
    assert stats["size_mismatches"] == 1  # the image whose JSON claims 100x80
    assert stats["reencoded"] == 2  # the BMP and the CMYK JPEG
    assert stats["clipped_boxes"] == 2  # the boxes 0.5 px outside
    assert stats["image_formats"]["png"] == 3  # PNG named .jpg + two re-encoded


def test_yolo_gives_the_same_boxes_as_coco(broken_corpus, tmp_path, helpers):
    corpus = broken_corpus.make_coco_case(tmp_path / "in", "png_named_jpg")
    labels_dir, names = broken_corpus.coco_to_yolo(
        corpus.input_path, corpus.images_dir, str(tmp_path / "yolo")
    )
    run(corpus.input_path, "coco", str(tmp_path / "coco_out"), images_dir=corpus.images_dir)
    run(
        labels_dir,
        "yolo",
        str(tmp_path / "yolo_out"),
        images_dir=corpus.images_dir,
        classes_file=names,
    )
    keys = (
        "image/object/bbox/xmin",
        "image/object/bbox/ymin",
        "image/object/bbox/xmax",
        "image/object/bbox/ymax",
    )

    def by_file(out):
        examples = helpers.read_examples_tf(out)
        return {e["image/filename"]: e for split in examples.values() for e in split}

    coco, yolo = by_file(tmp_path / "coco_out"), by_file(tmp_path / "yolo_out")
    assert sorted(coco) == sorted(yolo)
    for name, example in coco.items():
        other = yolo[name]
        assert example["image/encoded"] == other["image/encoded"]
        assert example["image/object/class/label"] == other["image/object/class/label"]
        for key in keys:
            assert example[key] == pytest.approx(other[key], abs=1e-6)
