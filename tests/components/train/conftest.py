"""Fixtures of the train-step tests: small Examples artifacts made from the bundled sample."""

from __future__ import annotations

import json
import pathlib
import xml.etree.ElementTree as ET

import pytest

# A tiny config of the train tests: a few seconds per epoch on the CPU.
SMALL = {
    "image_size": 64,
    "bifpn.width": 16,
    "bifpn.depth": 1,
    "head.depth": 1,
    "backbone.cells.stem_width": 8,
    "backbone.cells.filters": 8,
    "train.ema_decay": 0.0,
    "train.early_stopping_patience": 0,
    "train.batch_size": 4,
}

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "components" / "data" / "sample" / "raccoon"
OVERFIT_IMAGES = [f"raccoon-{i}.jpg" for i in (1, 2, 3, 4, 5, 6, 7, 8)]


def _voc_boxes(xml_path: pathlib.Path) -> tuple[int, int, list[tuple[float, float, float, float]]]:
    root = ET.parse(xml_path).getroot()
    width = int(root.findtext("size/width"))
    height = int(root.findtext("size/height"))
    boxes = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        xmin, ymin, xmax, ymax = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((ymin / height, xmin / width, ymax / height, xmax / width))
    return height, width, boxes


def write_examples(out_dir: pathlib.Path, splits: dict[str, list[str]]) -> pathlib.Path:
    """Write an Examples artifact (GZIP TFRecord shards + labels.json) of sample images.

    ``splits`` maps a split name to sample image file names. Returns ``out_dir``.
    """
    import tensorflow as tf

    from components.artifacts.examples import LABELS_FILE, SHARD_PREFIX, SHARD_SUFFIX, SPLIT_DIR
    from components.data import example_codec, schema

    out_dir.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        split_dir = out_dir / SPLIT_DIR.format(split=split)
        split_dir.mkdir()
        shard = split_dir / f"{SHARD_PREFIX}-00000-of-00001{SHARD_SUFFIX}"
        with tf.io.TFRecordWriter(str(shard), options="GZIP") as writer:
            for name in names:
                image = (SAMPLE / "images" / name).read_bytes()
                height, width, boxes = _voc_boxes(
                    SAMPLE / "annotations" / name.replace(".jpg", ".xml")
                )
                writer.write(
                    example_codec.encode_example(
                        bytes_features={
                            schema.IMAGE_ENCODED: [image],
                            schema.IMAGE_FORMAT: [b"jpeg"],
                            schema.IMAGE_FILENAME: [name.encode()],
                            schema.IMAGE_SOURCE_ID: [name.encode()],
                            schema.CLASS_TEXT: [b"raccoon"] * len(boxes),
                        },
                        int64_features={
                            schema.IMAGE_HEIGHT: [height],
                            schema.IMAGE_WIDTH: [width],
                            schema.CLASS_LABEL: [1] * len(boxes),
                            schema.IS_CROWD: [0] * len(boxes),
                        },
                        float_features={
                            schema.BBOX_YMIN: [b[0] for b in boxes],
                            schema.BBOX_XMIN: [b[1] for b in boxes],
                            schema.BBOX_YMAX: [b[2] for b in boxes],
                            schema.BBOX_XMAX: [b[3] for b in boxes],
                        },
                    )
                )
    labels = {"classes": [{"id": 1, "name": "raccoon", "source_id": 1}]}
    (out_dir / LABELS_FILE).write_text(json.dumps(labels))
    return out_dir


@pytest.fixture(scope="session")
def overfit_examples(tmp_path_factory) -> pathlib.Path:
    """Examples with the same 8 sample images in Split-train and Split-val."""
    out = tmp_path_factory.mktemp("overfit") / "examples"
    return write_examples(out, {"train": OVERFIT_IMAGES, "val": OVERFIT_IMAGES})


@pytest.fixture(scope="session")
def resume_examples(tmp_path_factory) -> pathlib.Path:
    """Examples with 8 sample images for training and 2 others for evaluation."""
    out = tmp_path_factory.mktemp("resume") / "examples"
    return write_examples(
        out, {"train": OVERFIT_IMAGES, "val": ["raccoon-9.jpg", "raccoon-10.jpg"]}
    )


@pytest.fixture(scope="session")
def overfit_x4_examples(tmp_path_factory) -> pathlib.Path:
    """Examples whose train split holds the 8 overfit images 4 times (4 steps per epoch)."""
    out = tmp_path_factory.mktemp("overfit_x4") / "examples"
    return write_examples(out, {"train": OVERFIT_IMAGES * 4})


@pytest.fixture(scope="session")
def overfit_truth() -> list[dict]:
    """The 8 overfit images: name, encoded JPEG bytes, height, width, normalised VOC boxes."""
    items = []
    for name in OVERFIT_IMAGES:
        height, width, boxes = _voc_boxes(SAMPLE / "annotations" / name.replace(".jpg", ".xml"))
        encoded = (SAMPLE / "images" / name).read_bytes()
        items.append(
            {"name": name, "encoded": encoded, "height": height, "width": width, "boxes": boxes}
        )
    return items
