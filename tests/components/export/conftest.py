"""Fixtures of the export tests: a tiny exported detector whose scores spread, and images."""

from __future__ import annotations

import json
import pathlib
import shutil
import xml.etree.ElementTree as ET

import pytest

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "components" / "data" / "sample" / "raccoon"
IMAGES = ["raccoon-1.jpg", "raccoon-100.jpg", "raccoon-12.jpg", "raccoon-2.jpg"]
LABELS = {
    "classes": [
        {"id": 1, "name": "raccoon", "source_id": 1},
        {"id": 2, "name": "dog", "source_id": 2},
    ]
}
# A small network at 64 px (like the train tests' SMALL config), two classes, 20 detections.
TINY = {
    "num_classes": 2,
    "image_size": 64,
    "bifpn.width": 16,
    "bifpn.depth": 1,
    "head.depth": 1,
    "backbone.cells.stem_width": 8,
    "backbone.cells.filters": 8,
    "postprocess.score_threshold": 0.05,
    "postprocess.max_detections": 20,
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A Model artifact folder: untrained weights, the class head's output scaled so that the
    scores spread over 0..1 (an untrained head scores every anchor about 0.01 alike)."""
    return save_tiny_model(tmp_path_factory.mktemp("export_model"))


def save_tiny_model(out: pathlib.Path) -> str:
    """Write the tiny Model artifact of :func:`tiny_model` into ``out``; return its path (also
    what the push tests export)."""
    import keras
    import numpy as np

    from components.artifacts.model import CONFIG_FILE
    from components.detector import export
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    keras.utils.set_random_seed(5)
    config = get_preset("tiny").with_overrides(TINY)
    detector = build_detector(config)
    head = detector.get_layer("class_net_out")
    kernel, bias = head.get_weights()[:-1], head.get_weights()[-1]
    head.set_weights([k * 30.0 for k in kernel] + [np.full_like(bias, -2.0)])
    export.export_saved_model(detector, config, LABELS, str(out))
    config.save(out / CONFIG_FILE)
    return str(out)


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory) -> pathlib.Path:
    """A folder with four bundled sample images (of different sizes)."""
    folder = tmp_path_factory.mktemp("export_images")
    for name in IMAGES:
        shutil.copy(SAMPLE / "images" / name, folder / name)
    return folder


def _voc(name: str):
    root = ET.parse(SAMPLE / "annotations" / name.replace(".jpg", ".xml")).getroot()
    width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
    boxes = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        x1, y1, x2, y2 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((y1 / height, x1 / width, y2 / height, x2 / width))
    return height, width, boxes


@pytest.fixture(scope="session")
def test_examples(tmp_path_factory) -> pathlib.Path:
    """An Examples artifact whose test split holds the four sample images and their boxes."""
    import tensorflow as tf

    from components.artifacts.examples import LABELS_FILE, SHARD_PREFIX, SHARD_SUFFIX, SPLIT_DIR
    from components.data import example_codec, schema

    out = tmp_path_factory.mktemp("export_examples")
    split_dir = out / SPLIT_DIR.format(split="test")
    split_dir.mkdir()
    with tf.io.TFRecordWriter(
        str(split_dir / f"{SHARD_PREFIX}-00000-of-00001{SHARD_SUFFIX}"), options="GZIP"
    ) as writer:
        for name in IMAGES:
            height, width, boxes = _voc(name)
            writer.write(
                example_codec.encode_example(
                    bytes_features={
                        schema.IMAGE_ENCODED: [(SAMPLE / "images" / name).read_bytes()],
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
    (out / LABELS_FILE).write_text(json.dumps(LABELS))
    return out
