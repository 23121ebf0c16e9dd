"""IoU matching of anchors to ground-truth boxes (EfficientDet, google/automl).

An anchor whose best IoU with a valid box is >= ``anchors.matched_threshold`` is positive for
that box, < ``anchors.unmatched_threshold`` negative (background), in between ignored. With
``anchors.force_match`` every valid box is also given its best anchor, so small boxes are never
left without a positive. One of the assigners of ``targets.ASSIGNERS``.
"""

from __future__ import annotations

import tensorflow as tf

from components.detector.config import DetectorConfig

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


def match(
    boxes: tf.Tensor, valid: tf.Tensor, anchors: tf.Tensor, config: DetectorConfig
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Return ``(matched int32 [B, A], positive bool [B, A], negative bool [B, A])``.

    ``boxes`` float32 [B, M, 4] and ``anchors`` float32 [A, 4] are in pixels, ``valid`` bool
    [B, M] marks the real boxes; ``matched`` is the index of each anchor's box (meaningful
    where positive).
    """
    cfg = config.anchors
    num_anchors = anchors.shape[0]
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
    return matched, positive, negative
