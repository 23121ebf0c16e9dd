"""Fixtures of the ingest tests: the broken-corpus builders, reading shards back, source boxes."""

from __future__ import annotations

import glob
import json
import os
import pathlib
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def broken_corpus():
    """The ``tests/components/data/broken_corpus.py`` module (on pytest's ``pythonpath``)."""
    import broken_corpus as module

    return module


def shard_files(examples_dir, split: str) -> list[str]:
    """Return the sorted shard paths of ``split`` in an Examples directory."""
    return sorted(
        glob.glob(os.path.join(str(examples_dir), f"Split-{split}", "data_tfrecord-*.gz"))
    )


def read_examples_tf(examples_dir) -> dict[str, list[dict]]:
    """Read every split back with TensorFlow (TFRecordDataset GZIP + parse_single_example).

    Returns ``{split: [example dict, ...]}`` in file order; each dict holds Python values.
    """
    import tensorflow as tf

    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/format": tf.io.FixedLenFeature([], tf.string),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "image/filename": tf.io.FixedLenFeature([], tf.string),
        "image/source_id": tf.io.FixedLenFeature([], tf.string),
        "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
        "image/object/class/label": tf.io.VarLenFeature(tf.int64),
        "image/object/class/text": tf.io.VarLenFeature(tf.string),
        "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
        "image/object/area": tf.io.VarLenFeature(tf.float32),
    }
    result = {}
    for split in ("train", "val", "test"):
        files = shard_files(examples_dir, split)
        examples = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            parsed = tf.io.parse_single_example(record, spec)
            item = {}
            for key, value in parsed.items():
                if isinstance(value, tf.SparseTensor):
                    value = tf.sparse.to_dense(value)
                value = value.numpy()
                item[key] = value.tolist() if hasattr(value, "tolist") else value
            for key in ("image/format", "image/filename", "image/source_id"):
                item[key] = item[key].decode()
            item["image/object/class/text"] = [t.decode() for t in item["image/object/class/text"]]
            examples.append(item)
        result[split] = examples
    return result


def expected_boxes(boxes, width: int, height: int) -> list[tuple]:
    """Apply the validation rule to pixel ``(xmin, ymin, xmax, ymax, name)`` boxes; normalise.

    Boxes with no area or sticking out by more than 1 % of the side (at least 1 px) are dropped;
    others are clipped.
    Returns ``[(xmin, ymin, xmax, ymax, name), ...]`` normalised by ``width``/``height``.
    """
    kept = []
    for xmin, ymin, xmax, ymax, name in boxes:
        if xmax - xmin <= 0 or ymax - ymin <= 0:
            continue
        tol_x, tol_y = max(1.0, 0.01 * width), max(1.0, 0.01 * height)
        if xmin < -tol_x or ymin < -tol_y or xmax > width + tol_x or ymax > height + tol_y:
            continue
        xmin, ymin, xmax, ymax = max(xmin, 0), max(ymin, 0), min(xmax, width), min(ymax, height)
        kept.append((xmin / width, ymin / height, xmax / width, ymax / height, name))
    return kept


def voc_source(annotations_dir, images_dir) -> dict[str, dict]:
    """Parse VOC XML files directly: ``{stem: {"boxes": [...], "width", "height"}}`` (decoded size)."""
    result = {}
    for xml_path in sorted(pathlib.Path(annotations_dir).glob("*.xml")):
        root = ET.parse(xml_path).getroot()
        boxes = []
        for obj in root.iter("object"):
            bb = obj.find("bndbox")
            coords = [float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
            boxes.append((*coords, obj.find("name").text.strip()))
        image_path = pathlib.Path(images_dir) / root.find("filename").text.strip()
        if not image_path.exists():
            image_path = pathlib.Path(images_dir) / f"{xml_path.stem}.jpg"
        with Image.open(image_path) as img:
            width, height = img.size
        result[xml_path.stem] = {"boxes": boxes, "width": width, "height": height}
    return result


def coco_source(json_path, images_dir) -> tuple[dict[str, dict], list[dict]]:
    """Parse a COCO instances JSON directly: ``({image id: {...}}, categories sorted by id)``."""
    data = json.loads(pathlib.Path(json_path).read_text())
    categories = sorted(data["categories"], key=lambda c: c["id"])
    names = {c["id"]: c["name"] for c in categories}
    result = {}
    for image in data["images"]:
        with Image.open(pathlib.Path(images_dir) / image["file_name"]) as img:
            width, height = img.size
        result[str(image["id"])] = {"boxes": [], "width": width, "height": height}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        result[str(ann["image_id"])]["boxes"].append(
            (x, y, x + w, y + h, names[ann["category_id"]])
        )
    return result, categories


def check_examples_match(
    examples: dict[str, list[dict]], source: dict[str, dict], label_of: dict
) -> int:
    """Assert every example's boxes equal its source boxes normalised (1e-6); return box count."""
    seen = 0
    for split_examples in examples.values():
        ids = [e["image/source_id"] for e in split_examples]
        for example in split_examples:
            src = source[example["image/source_id"]]
            assert (example["image/width"], example["image/height"]) == (
                src["width"],
                src["height"],
            )
            want = expected_boxes(src["boxes"], src["width"], src["height"])
            got = list(
                zip(
                    example["image/object/bbox/xmin"],
                    example["image/object/bbox/ymin"],
                    example["image/object/bbox/xmax"],
                    example["image/object/bbox/ymax"],
                    example["image/object/class/text"],
                    strict=True,
                )
            )
            assert len(got) == len(want), example["image/source_id"]
            for g, w in zip(got, want, strict=True):
                assert g[4] == w[4]
                assert g[:4] == pytest.approx(w[:4], abs=1e-6)
            assert example["image/object/class/label"] == [label_of[w[4]] for w in want]
            seen += len(got)
        assert len(set(ids)) == len(ids)
    return seen


def artifact_files(root) -> dict[str, bytes]:
    """Every file under ``root``: ``{path relative to root: bytes}``."""
    from components import files

    return {rel: files.read_bytes(os.path.join(root, rel)) for rel in files.walk_files(str(root))}


@pytest.fixture(scope="session")
def helpers():
    """The helper functions of this conftest (test modules cannot import it by name)."""
    import types

    return types.SimpleNamespace(
        shard_files=shard_files,
        read_examples_tf=read_examples_tf,
        expected_boxes=expected_boxes,
        voc_source=voc_source,
        coco_source=coco_source,
        check_examples_match=check_examples_match,
        artifact_files=artifact_files,
    )
