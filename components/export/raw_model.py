"""The raw network of an exported model: the detector without pre-processing and NMS.

The formats that keep NMS outside the graph export this function: float32 padded images
[1, S, S, 3] (0..255, ``resize_and_pad``'s output) in, one output ``raw`` [1, A, K + 4] out:
the class logits [..., :K] and the box deltas [..., K:] side by side (one output, so no
runtime can reorder them). It is rebuilt from the model's ``detector_config.json`` and given
the SavedModel's own variables (tracked in the export as ``model_variables``, in the order of
the Keras model's weights), so it computes exactly what ``serving_default`` runs before its NMS.
"""

from __future__ import annotations

from components import files
from components.artifacts.model import CONFIG_FILE, ModelLocation
from components.errors import UserError
from components.files import join

RAW_OUTPUT = "raw"


def load_config(root: str):
    """The DetectorConfig in ``root``'s ``detector_config.json``; UserError when missing."""
    from components.detector.config import DetectorConfig

    path = join(root, CONFIG_FILE)
    if not files.is_file(path):
        raise UserError(f"{root} has no {CONFIG_FILE}: the model's config is needed to export it")
    try:
        return DetectorConfig.load(path)
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a detector config ({err})") from err


def load_detector(location: ModelLocation):
    """``(detector, config)``: the Keras detector with the SavedModel's variables."""
    import tensorflow as tf

    from components.detector.model import build_detector

    config = load_config(location.root)
    try:
        loaded = tf.saved_model.load(location.saved_model_dir)
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise UserError(f"cannot load a SavedModel from {location.saved_model_dir}: {err}") from err
    saved = list(getattr(loaded, "model_variables", []) or [])
    detector = build_detector(config)
    shapes = [tuple(w.shape) for w in detector.weights]
    if [tuple(v.shape) for v in saved] != shapes:
        raise UserError(
            f"the variables of {location.saved_model_dir} do not fit {CONFIG_FILE} "
            f"({len(saved)} saved, {len(shapes)} in the built detector)"
        )
    for weight, value in zip(detector.weights, saved, strict=True):
        weight.assign(value.numpy())
    return detector, config


def raw_function(detector, config, batch: int | None = 1):
    """A ``tf.function`` of the detector: ``images`` float32 [batch, S, S, 3] ->
    ``{RAW_OUTPUT: float32 [batch, A, K + 4]}`` (class logits, then box deltas)."""
    import tensorflow as tf

    size = int(config.image_size)

    @tf.function(input_signature=[tf.TensorSpec([batch, size, size, 3], tf.float32, "images")])
    def raw(images):
        class_logits, box_deltas = detector(images, training=False)
        joined = tf.concat([tf.cast(class_logits, tf.float32), tf.cast(box_deltas, tf.float32)], -1)
        return {RAW_OUTPUT: joined}

    return raw
