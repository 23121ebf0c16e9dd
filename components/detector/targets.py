"""Assign ground-truth boxes to anchors (TensorFlow, vectorised over a batch, static shapes).

Rules (google/automl EfficientDet): an anchor whose best IoU with a ground-truth box is
>= ``anchors.matched_threshold`` is positive for that box, < ``anchors.unmatched_threshold``
negative (background), in between ignored. With ``anchors.force_match`` every valid ground-truth
box is also given its best anchor, so small boxes are never left without a positive. Padding rows
(class 0) and boxes of zero area are ignored. Output shapes are static, so the function works in a
``tf.data`` map (one image), in a ``tf.function`` train step (a batch) and under XLA.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.detector import box_coding
from components.detector.config import DetectorConfig

IGNORE = -1  # class target of anchors excluded from the class loss
BACKGROUND = 0
_FORCED_BONUS = (
    2.0  # added to the IoU of forced matches so they win the argmax and pass the threshold
)


def pairwise_iou(anchors: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
    """Return IoU [B, A, M] between ``anchors`` [A, 4] and ``boxes`` [B, M, 4] (same units)."""
    a = anchors[None, :, None, :]
    b = boxes[:, None, :, :]
    inter_h = tf.nn.relu(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]))
    inter_w = tf.nn.relu(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]))
    inter = inter_h * inter_w
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    area_b = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    union = area_a[None, :, None] + area_b[:, None, :] - inter
    return inter / tf.maximum(union, 1e-8)


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
    cfg = config.anchors
    anchors = tf.cast(tf.convert_to_tensor(anchors), tf.float32)
    num_anchors = anchors.shape[0]
    boxes = tf.cast(gt_boxes, tf.float32) * float(config.image_size)
    classes = tf.cast(gt_classes, tf.int32)
    if trim if trim is not None else not _in_xla_context():
        boxes, classes = _trim_padding(boxes, classes)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    valid = (classes > 0) & (area > 0)  # [B, M]

    iou = pairwise_iou(anchors, boxes)  # [B, A, M]
    iou = tf.where(valid[:, None, :], iou, -1.0)
    if cfg.force_match:
        best_anchor = tf.argmax(iou, axis=1, output_type=tf.int32)  # [B, M]
        forced = tf.one_hot(best_anchor, num_anchors, axis=1, dtype=tf.float32)  # [B, A, M]
        forced = forced * tf.cast(valid, tf.float32)[:, None, :]
        iou = iou + _FORCED_BONUS * forced
    matched = tf.argmax(iou, axis=2, output_type=tf.int32)  # [B, A]
    best_iou = tf.reduce_max(iou, axis=2)  # [B, A]; -1 when the image has no valid box

    positive = best_iou >= cfg.matched_threshold
    negative = best_iou < cfg.unmatched_threshold
    matched_classes = tf.gather(classes, matched, batch_dims=1)
    class_targets = tf.where(positive, matched_classes, tf.where(negative, BACKGROUND, IGNORE))
    matched_boxes = tf.gather(boxes, matched, batch_dims=1)  # [B, A, 4]
    deltas = box_coding.encode(matched_boxes, anchors[None])
    box_targets = tf.where(positive[..., None], deltas, 0.0)
    num_positives = tf.reduce_sum(tf.cast(positive, tf.float32), axis=1)
    if unbatched:
        return class_targets[0], box_targets[0], num_positives[0]
    return class_targets, box_targets, num_positives
