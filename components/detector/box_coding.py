"""Faster R-CNN box coding: boxes <-> (ty, tx, th, tw) deltas relative to anchors (TensorFlow).

``ty = (cy - cya) / ha * sy``, ``tx = (cx - cxa) / wa * sx``, ``th = log(h / ha) * sh``,
``tw = log(w / wa) * sw`` with optional scale factors ``(sy, sx, sh, sw)``; EfficientDet (automl)
uses none, i.e. ``(1, 1, 1, 1)``. Boxes are (ymin, xmin, ymax, xmax) in any one unit (pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

_EPSILON = 1e-8
# th and tw are clipped before exp() so a wild prediction cannot overflow (as in torchvision)
MAX_LOG_SCALE = math.log(1000.0 / 16.0)


def _centre_size(boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    h = ymax - ymin
    w = xmax - xmin
    return ymin + 0.5 * h, xmin + 0.5 * w, h, w


def encode(
    boxes: tf.Tensor, anchors: tf.Tensor, scale_factors: Sequence[float] | None = None
) -> tf.Tensor:
    """Return float32 deltas [..., 4] (ty, tx, th, tw) of ``boxes`` relative to ``anchors``.

    ``boxes`` and ``anchors`` are (ymin, xmin, ymax, xmax) [..., 4] and broadcast together.
    Degenerate boxes are given a tiny positive size so the logarithm stays finite.
    """
    boxes = tf.cast(boxes, tf.float32)
    anchors = tf.cast(anchors, tf.float32)
    ycenter, xcenter, h, w = _centre_size(boxes)
    ycenter_a, xcenter_a, ha, wa = _centre_size(anchors)
    ha = tf.maximum(ha, _EPSILON)
    wa = tf.maximum(wa, _EPSILON)
    h = tf.maximum(h, _EPSILON)
    w = tf.maximum(w, _EPSILON)
    ty = (ycenter - ycenter_a) / ha
    tx = (xcenter - xcenter_a) / wa
    th = tf.math.log(h / ha)
    tw = tf.math.log(w / wa)
    deltas = tf.stack([ty, tx, th, tw], axis=-1)
    if scale_factors is not None:
        deltas = deltas * tf.constant(scale_factors, tf.float32)
    return deltas


def decode(
    deltas: tf.Tensor, anchors: tf.Tensor, scale_factors: Sequence[float] | None = None
) -> tf.Tensor:
    """Return float32 boxes (ymin, xmin, ymax, xmax) [..., 4] from ``deltas`` and ``anchors``.

    The inverse of ``encode``; ``th``/``tw`` are clipped at ``MAX_LOG_SCALE`` before ``exp``.
    """
    deltas = tf.cast(deltas, tf.float32)
    anchors = tf.cast(anchors, tf.float32)
    if scale_factors is not None:
        deltas = deltas / tf.constant(scale_factors, tf.float32)
    ycenter_a, xcenter_a, ha, wa = _centre_size(anchors)
    ty, tx, th, tw = tf.unstack(deltas, axis=-1)
    h = tf.exp(tf.minimum(th, MAX_LOG_SCALE)) * ha
    w = tf.exp(tf.minimum(tw, MAX_LOG_SCALE)) * wa
    ycenter = ty * ha + ycenter_a
    xcenter = tx * wa + xcenter_a
    return tf.stack(
        [ycenter - 0.5 * h, xcenter - 0.5 * w, ycenter + 0.5 * h, xcenter + 0.5 * w], axis=-1
    )
