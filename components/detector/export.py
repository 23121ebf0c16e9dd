"""Export a trained detector as a SavedModel with pre-processing and NMS inside.

Signatures (call them with keyword arguments, ``fn(images=...)``):

- ``serving_default``: ``images`` uint8 [B, H, W, 3], any H and W (one size per batch);
- ``serving_bytes``: ``images`` string [B], encoded JPEG / PNG / GIF / BMP images of any sizes;
- ``evaluation``: as ``serving_default``, but with the COCO evaluation protocol's detections
  (the top :data:`COCO_MAX_DETECTIONS` per image above a score floor of
  :data:`COCO_SCORE_FLOOR`) instead of the serving threshold. The evaluate step scores it, so
  a weak model gets its true AP while serving keeps its own threshold.

Both resize and pad with :func:`components.data.preprocess.resize_and_pad` (the training
pre-processing), run the model and :func:`components.detector.postprocess.postprocess`, and map
the boxes back to each ORIGINAL image. Outputs: ``detection_boxes`` float32 [B, N, 4] (ymin, xmin,
ymax, xmax normalised to the original image), ``detection_scores`` float32 [B, N],
``detection_classes`` float32 [B, N] (label ids 1..K of ``labels.json``; 0 in padding rows) and
``num_detections`` float32 [B] (TF Object Detection API conventions).
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf

from components.artifacts.model import LABELS_FILE, SAVED_MODEL_DIR
from components.data import example_reader, preprocess
from components.detector import anchors as anchors_lib
from components.detector import postprocess as postprocess_lib

EVALUATION_SIGNATURE = "evaluation"
SIGNATURES = ("serving_default", "serving_bytes", EVALUATION_SIGNATURE)
# The COCO evaluation protocol of the reference implementations (automl, Detectron2): score
# the top 100 detections per image, keeping everything above a 0.001 floor.
COCO_SCORE_FLOOR = 0.001
COCO_MAX_DETECTIONS = 100


def evaluation_config(config):
    """``config`` with the COCO protocol's post-processing (score floor, detections per image)."""
    return config.with_overrides(
        {
            "postprocess.score_threshold": COCO_SCORE_FLOOR,
            "postprocess.max_detections": COCO_MAX_DETECTIONS,
        }
    )


def make_detect_fn(model: keras.Model, config):
    """Return ``detect(padded, height, width) -> outputs`` for the model's S x S inputs.

    ``padded`` is float32 [B, S, S, 3] from ``resize_and_pad``, ``height``/``width`` int32 [B] the
    original image sizes. The result is the dict of the four output tensors described in the
    module docstring (float32, boxes in the original image frame). The post-processing is
    ``config.postprocess`` (pass :func:`evaluation_config` for the COCO protocol).
    """
    size = int(config.image_size)
    anchor_boxes = np.asarray(anchors_lib.generate_anchors(config), dtype=np.float32)

    def detect(padded, height, width):
        class_logits, box_deltas = model(padded, training=False)
        out = postprocess_lib.postprocess(
            tf.cast(class_logits, tf.float32),
            tf.cast(box_deltas, tf.float32),
            tf.constant(anchor_boxes),
            config,
        )
        boxes = preprocess.boxes_to_image_frame(
            out["detection_boxes"], height[:, None], width[:, None], size
        )
        valid = tf.sequence_mask(
            tf.cast(out["num_detections"], tf.int32), tf.shape(boxes)[1], dtype=tf.float32
        )
        return {
            "detection_boxes": boxes * valid[..., None],
            "detection_scores": tf.cast(out["detection_scores"], tf.float32),
            "detection_classes": tf.cast(out["detection_classes"], tf.float32),
            "num_detections": tf.cast(out["num_detections"], tf.float32),
        }

    return detect


def make_serving_functions(model: keras.Model, config) -> dict[str, tf.types.experimental.Function]:
    """Return the ``tf.function`` signatures of :data:`SIGNATURES`, by name.

    Each takes the keyword argument ``images`` (see the module docstring) and returns the
    output dict. They close over ``model``; save them with the model tracked.
    """
    size = int(config.image_size)
    detect = make_detect_fn(model, config)
    detect_all = make_detect_fn(model, evaluation_config(config))

    def on_pixels(images, detect_fn):
        padded, _ = preprocess.resize_and_pad(images, size)
        shape = tf.shape(images)
        height = tf.fill([shape[0]], shape[1])
        width = tf.fill([shape[0]], shape[2])
        return detect_fn(padded, height, width)

    pixels = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")

    @tf.function(input_signature=[pixels])
    def serving_default(images):
        return on_pixels(images, detect)

    @tf.function(input_signature=[pixels])
    def evaluation(images):
        return on_pixels(images, detect_all)

    def _decode_one(encoded):
        image = example_reader.decode_image(encoded)
        padded, _ = preprocess.resize_and_pad(image, size)
        shape = tf.shape(image)
        return padded, shape[0], shape[1]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serving_bytes(images):
        padded, height, width = tf.map_fn(
            _decode_one,
            images,
            fn_output_signature=(
                tf.TensorSpec([size, size, 3], tf.float32),
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([], tf.int32),
            ),
        )
        return detect(padded, height, width)

    return {
        "serving_default": serving_default,
        "serving_bytes": serving_bytes,
        EVALUATION_SIGNATURE: evaluation,
    }


def export_saved_model(model: keras.Model, config, labels: dict, export_dir: str) -> str:
    """Write ``<export_dir>/saved_model/`` (every signature) and ``<export_dir>/labels.json``.

    ``model`` is the detector (float images [B, S, S, 3] -> class logits, box deltas) with the
    weights to serve, ``config`` its DetectorConfig, ``labels`` the ``labels.json`` dict of the
    Examples (``{"classes": [{"id", "name", ...}]}``). Returns the SavedModel directory.
    """
    os.makedirs(export_dir, exist_ok=True)
    functions = make_serving_functions(model, config)
    module = tf.Module()
    # Track the variables only (as keras.export.ExportArchive does): saving the Keras model
    # object itself makes tf.saved_model.save trace every layer, which is slow.
    module.model_variables = list(model.weights)
    for name, function in functions.items():
        setattr(module, name, function)
    saved_model_dir = os.path.join(export_dir, SAVED_MODEL_DIR)
    signatures = {name: fn.get_concrete_function() for name, fn in functions.items()}
    tf.saved_model.save(module, saved_model_dir, signatures=signatures)
    with open(os.path.join(export_dir, LABELS_FILE), "w", encoding="utf-8") as f:
        json.dump(labels, f, indent=2)
    return saved_model_dir
