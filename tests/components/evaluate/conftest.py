"""Fixtures for the evaluate tests: small Examples artifacts and real SavedModels.

``make_examples`` writes an Examples artifact (GZIP TFRecord of tf.Example with the Object
Detection keys, ``labels.json``, ``stats.json``); image i (1-based) is a solid PNG whose red
channel is i, so a model can recognise it. ``make_lookup_model`` saves a real SavedModel whose
``serving_default`` (uint8 ``images`` [B, H, W, 3]) returns, for each image, the detections
stored for that image in a table (keyed by the red value of the top-left pixel).
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

CLASSES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]


def _png(width: int, height: int, red: int) -> bytes:
    from PIL import Image

    array = np.zeros((height, width, 3), np.uint8)
    array[..., 0] = red
    array[..., 1] = 90
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_examples(root, images: list[dict], classes=CLASSES) -> str:
    """Write an Examples artifact under ``root``; ``images`` hold width, height, boxes, classes.

    Optional per image: ``is_crowd`` and ``area`` lists. Returns the directory.
    """
    import tensorflow as tf

    root = str(root)
    split = os.path.join(root, "Split-test")
    os.makedirs(split, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    path = os.path.join(split, "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options) as writer:
        for index, img in enumerate(images, start=1):
            boxes = np.asarray(img.get("boxes", []), np.float32).reshape(-1, 4)
            feature = {
                "image/encoded": _bytes([_png(img["width"], img["height"], index)]),
                "image/format": _bytes([b"png"]),
                "image/height": _ints([img["height"]]),
                "image/width": _ints([img["width"]]),
                "image/source_id": _bytes([f"img{index}".encode()]),
                "image/filename": _bytes([f"img{index}.png".encode()]),
                "image/object/bbox/ymin": _floats(boxes[:, 0]),
                "image/object/bbox/xmin": _floats(boxes[:, 1]),
                "image/object/bbox/ymax": _floats(boxes[:, 2]),
                "image/object/bbox/xmax": _floats(boxes[:, 3]),
                "image/object/class/label": _ints(img.get("classes", [])),
                "image/object/is_crowd": _ints(img.get("is_crowd", [0] * len(boxes))),
            }
            if "area" in img:
                feature["image/object/area"] = _floats(img["area"])
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    with open(os.path.join(root, "labels.json"), "w") as f:
        json.dump({"classes": [dict(c, source_id=c["id"]) for c in classes]}, f)
    with open(os.path.join(root, "stats.json"), "w") as f:
        json.dump({"test": {"images": len(images)}}, f)
    return root


def _bytes(values):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values):
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def save_lookup_model(
    root, detections: dict[int, list], layout="artifact", classes=CLASSES, serving_threshold=None
) -> str:
    """Save a SavedModel answering image i with ``detections[i]`` = [(box, score, class), ...].

    ``layout`` "artifact" writes ``root/saved_model`` + labels.json (a Model artifact);
    "version" writes the SavedModel directly into ``root`` (a pushed version). With
    ``serving_threshold``, it has the exported models' two signatures: ``serving_default``
    answers only the detections scoring at least the threshold, ``evaluation`` all of them.
    Returns root.
    """
    import tensorflow as tf

    if serving_threshold is not None:
        served = {
            i: [d for d in dets if d[1] >= serving_threshold] for i, dets in detections.items()
        }
        everything = _lookup_module(detections)
        module = _lookup_module(served)
        module.everything = everything
        signatures = {"serving_default": module.serve, "evaluation": everything.serve}
    else:
        module = _lookup_module(detections)
        signatures = {"serving_default": module.serve}
    root = str(root)
    export = os.path.join(root, "saved_model") if layout == "artifact" else root
    tf.saved_model.save(module, export, signatures=signatures)
    with open(os.path.join(root, "labels.json"), "w") as f:
        json.dump({"classes": [dict(c, source_id=c["id"]) for c in classes]}, f)
    with open(os.path.join(root, "detector_config.json"), "w") as f:
        json.dump({"name": "lookup-test-double"}, f)
    return root


def _lookup_module(detections: dict[int, list]):
    import tensorflow as tf

    size = max(detections) + 1 if detections else 1
    n = max([len(v) for v in detections.values()] + [1])
    boxes = np.zeros((size, n, 4), np.float32)
    scores = np.zeros((size, n), np.float32)
    labels = np.zeros((size, n), np.float32)
    counts = np.zeros((size,), np.float32)
    for i, dets in detections.items():
        counts[i] = len(dets)
        for j, (box, score, cls) in enumerate(dets):
            boxes[i, j], scores[i, j], labels[i, j] = box, score, cls

    class Lookup(tf.Module):
        def __init__(self):
            super().__init__()
            self.boxes = tf.Variable(boxes)
            self.scores = tf.Variable(scores)
            self.labels = tf.Variable(labels)
            self.counts = tf.Variable(counts)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "images")])
        def serve(self, images):
            index = tf.minimum(tf.cast(images[:, 0, 0, 0], tf.int32), size - 1)
            return {
                "detection_boxes": tf.gather(self.boxes, index),
                "detection_scores": tf.gather(self.scores, index),
                "detection_classes": tf.gather(self.labels, index),
                "num_detections": tf.gather(self.counts, index),
            }

    return Lookup()


@pytest.fixture
def make_examples():
    """``make_examples(root, images, classes=CLASSES)`` -> Examples dir (see write_examples)."""
    return write_examples


@pytest.fixture
def make_lookup_model():
    """``make_lookup_model(root, detections, layout="artifact")`` -> model dir."""
    return save_lookup_model
