"""Detections from raw outputs: sigmoid, top-k pre-selection, decoding, per-class NMS (TensorFlow).

Per-class NMS is done in one pass per image: boxes are shifted by ``2 * class`` (they are
normalised to [0, 1], so boxes of different classes never overlap) and suppressed together with
``NonMaxSuppressionV5`` (hard NMS, or soft-NMS with a Gaussian ``soft_nms_sigma``). Shapes are
static ([B, max_detections]), so the function can be traced into a SavedModel.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.detector import box_coding
from components.detector.config import DetectorConfig


def _nms_one_image(boxes, scores, classes, config: DetectorConfig):
    cfg = config.postprocess
    shifted = boxes + 2.0 * tf.cast(classes, tf.float32)[:, None]
    sigma = cfg.soft_nms_sigma if cfg.nms == "soft" else 0.0
    # soft-NMS: TF decays scores by exp(-0.5 * iou**2 / sigma); iou_threshold 1.0 = no hard cut
    indices, selected_scores, valid = tf.raw_ops.NonMaxSuppressionV5(
        boxes=shifted,
        scores=scores,
        max_output_size=cfg.max_detections,
        iou_threshold=cfg.iou_threshold if cfg.nms == "hard" else 1.0,
        score_threshold=cfg.score_threshold,
        soft_nms_sigma=sigma,
        pad_to_max_output_size=True,
    )
    keep = tf.range(cfg.max_detections) < valid
    out_boxes = tf.where(keep[:, None], tf.gather(boxes, indices), 0.0)
    out_scores = tf.where(keep, selected_scores, 0.0)
    out_classes = tf.where(keep, tf.gather(classes, indices) + 1, 0)
    return out_boxes, out_scores, out_classes, valid


def postprocess(
    class_logits: tf.Tensor,
    box_deltas: tf.Tensor,
    anchors: np.ndarray | tf.Tensor,
    config: DetectorConfig,
) -> dict[str, tf.Tensor]:
    """Return detections for model outputs ``class_logits`` [B, A, K] and ``box_deltas`` [B, A, 4].

    ``anchors`` are the pixel anchors [A, 4] of ``anchors.generate_anchors(config)``. Returns
    ``detection_boxes`` float32 [B, N, 4] (ymin, xmin, ymax, xmax normalised to the S x S input,
    clipped to [0, 1]), ``detection_scores`` float32 [B, N], ``detection_classes`` int32 [B, N]
    (label ids 1..K; 0 in padding rows) and ``num_detections`` int32 [B], N = max_detections,
    best first.
    """
    cfg = config.postprocess
    class_logits = tf.cast(class_logits, tf.float32)
    box_deltas = tf.cast(box_deltas, tf.float32)
    anchors = tf.cast(tf.convert_to_tensor(anchors), tf.float32)
    num_anchors = anchors.shape[0]
    num_classes = class_logits.shape[-1]
    batch = tf.shape(class_logits)[0]

    flat_logits = tf.reshape(class_logits, [batch, num_anchors * num_classes])
    top_k = min(cfg.pre_nms_top_k, num_anchors * num_classes)
    top_logits, top_index = tf.math.top_k(flat_logits, k=top_k, sorted=False)
    anchor_index = top_index // num_classes
    class_index = top_index % num_classes
    scores = tf.sigmoid(top_logits)
    deltas = tf.gather(box_deltas, anchor_index, batch_dims=1)  # [B, k, 4]
    boxes = box_coding.decode(deltas, tf.gather(anchors, anchor_index))
    boxes = tf.clip_by_value(boxes / float(config.image_size), 0.0, 1.0)

    out_boxes, out_scores, out_classes, valid = tf.map_fn(
        lambda args: _nms_one_image(*args, config),
        (boxes, scores, class_index),
        fn_output_signature=(
            tf.TensorSpec([cfg.max_detections, 4], tf.float32),
            tf.TensorSpec([cfg.max_detections], tf.float32),
            tf.TensorSpec([cfg.max_detections], tf.int32),
            tf.TensorSpec([], tf.int32),
        ),
    )
    return {
        "detection_boxes": out_boxes,
        "detection_scores": out_scores,
        "detection_classes": out_classes,
        "num_detections": valid,
    }
