"""Assign ground-truth boxes to anchors (TensorFlow, vectorised over a batch, static shapes).

The rule is ``anchors.assigner``, looked up in ``ASSIGNERS``: ``iou`` (EfficientDet, the
default: ``assign_iou``) or ``atss`` (adaptive training sample selection: ``assign_atss``). An
assigner gives each anchor a box and marks it positive, negative (background) or neither
(ignored); this module builds the class and box targets from that. Padding rows (class 0) and
boxes of zero area are never matched. Output shapes are static, so the function works in a
``tf.data`` map (one image), in a ``tf.function`` train step (a batch) and under XLA.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from components.detector import assign_atss, assign_iou, box_coding
from components.detector.assign_iou import pairwise_iou
from components.detector.config import DetectorConfig

__all__ = ["ASSIGNERS", "BACKGROUND", "IGNORE", "assign_targets", "pairwise_iou"]

IGNORE = -1  # class target of anchors excluded from the class loss
BACKGROUND = 0

# name -> match(boxes px [B, M, 4], valid [B, M], anchors px [A, 4], config)
#         -> (matched int32 [B, A], positive bool [B, A], negative bool [B, A])
Assigner = Callable[
    [tf.Tensor, tf.Tensor, tf.Tensor, DetectorConfig], tuple[tf.Tensor, tf.Tensor, tf.Tensor]
]
ASSIGNERS: dict[str, Assigner] = {"iou": assign_iou.match, "atss": assign_atss.match}


def _in_xla_context() -> bool:
    """Return True while tracing under XLA (``tf.function(jit_compile=True)``), or if unsure."""
    try:
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except Exception:  # noqa: BLE001 - a private API: fall back to the static (XLA-safe) path
        return True


def _trim_padding(boxes: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Drop the padding columns after the last real box of the batch (keeps at least one)."""
    columns = tf.range(1, tf.shape(classes)[1] + 1)
    last = tf.reduce_max(tf.where(classes > 0, columns[None, :], 0))
    keep = tf.maximum(last, 1)
    return boxes[:, :keep], classes[:, :keep]


def assign_targets(
    gt_boxes: tf.Tensor,
    gt_classes: tf.Tensor,
    anchors: np.ndarray | tf.Tensor,
    config: DetectorConfig,
    trim: bool | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Return ``(class_targets, box_targets, num_positives)`` for a batch (or one image).

    Takes ``gt_boxes`` float [B, M, 4] (ymin, xmin, ymax, xmax normalised to the S x S input),
    ``gt_classes`` int [B, M] (1..K, 0 = padding) and ``anchors`` [A, 4] in pixels
    (``anchors.generate_anchors(config)``). Unbatched inputs ([M, 4], [M]) give unbatched outputs.
    Returns ``class_targets`` int32 [B, A] (1..K positive class, 0 background, -1 ignore),
    ``box_targets`` float32 [B, A, 4] (encoded deltas; zero where not positive) and
    ``num_positives`` float32 [B].

    The cost is O(B x A x M). ``trim`` drops the padding columns after the batch's last real box
    first (a dynamic shape, much faster when images have few boxes); ``None`` trims except while
    tracing under XLA, where shapes must be static.
    """
    gt_boxes = tf.convert_to_tensor(gt_boxes)
    unbatched = gt_boxes.shape.rank == 2
    if unbatched:
        gt_boxes = gt_boxes[None]
        gt_classes = tf.convert_to_tensor(gt_classes)[None]
    anchors = tf.cast(tf.convert_to_tensor(anchors), tf.float32)
    boxes = tf.cast(gt_boxes, tf.float32) * float(config.image_size)
    classes = tf.cast(gt_classes, tf.int32)
    if trim if trim is not None else not _in_xla_context():
        boxes, classes = _trim_padding(boxes, classes)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    valid = (classes > 0) & (area > 0)  # [B, M]

    match = ASSIGNERS[config.anchors.assigner]
    matched, positive, negative = match(boxes, valid, anchors, config)  # [B, A] each
    matched_classes = tf.gather(classes, matched, batch_dims=1)
    class_targets = tf.where(positive, matched_classes, tf.where(negative, BACKGROUND, IGNORE))
    matched_boxes = tf.gather(boxes, matched, batch_dims=1)  # [B, A, 4]
    deltas = box_coding.encode(matched_boxes, anchors[None])
    box_targets = tf.where(positive[..., None], deltas, 0.0)
    num_positives = tf.reduce_sum(tf.cast(positive, tf.float32), axis=1)
    if unbatched:
        return class_targets[0], box_targets[0], num_positives[0]
    return class_targets, box_targets, num_positives
