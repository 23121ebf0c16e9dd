"""ATSS: adaptive training sample selection (Zhang et al. 2020, arXiv:1912.02424).

For each ground-truth box, on each pyramid level, the candidates are the anchors of the
``anchors.atss_top_k`` locations whose centres are nearest to the box's centre: ``k x anchors
per location`` anchors, as the official code (sfzhang15/ATSS) does with several anchors per
location (the anchors of one location share a centre, so k single anchors would be one
location). The box's IoU threshold is the mean + standard deviation (unbiased, as
``torch.std``) of its candidates' IoUs; a candidate is positive when its IoU reaches the
threshold and its centre lies inside the box. An anchor positive for several boxes goes to the
box it overlaps most. Every other anchor is background: there is no ignore band.

With ``anchors.force_match`` (as for the IoU assigner) a valid box left without a positive (a
tiny box between anchor centres, or one whose positives all went to other boxes) gets its
highest-IoU anchor; plain ATSS is ``force_match: false``.

Vectorised over the batch and the boxes (a Python loop over the 3-5 levels only); the shapes
are static when the inputs' are (XLA). The cost is O(B x A x M) like IoU matching. One of the
assigners of ``targets.ASSIGNERS``.
"""

from __future__ import annotations

import tensorflow as tf

from components.detector import anchors as anchors_lib
from components.detector.assign_iou import pairwise_iou
from components.detector.config import DetectorConfig

INSIDE_MARGIN = 0.01  # pixels: how far inside a box an anchor centre must be (official ATSS)
_FORCED_SCORE = 3.0  # a forced match outranks every ATSS positive (scored 1 + IoU <= 2)


def level_sizes(config: DetectorConfig) -> list[int]:
    """Return the number of anchors of each pyramid level, lowest level first."""
    per_location = config.anchors.per_location
    return [h * w * per_location for _, h, w in anchors_lib.level_shapes(config)]


def _centres(boxes: tf.Tensor) -> tf.Tensor:
    return 0.5 * (boxes[..., :2] + boxes[..., 2:])


def _candidates(
    box_centres: tf.Tensor, anchor_centres: tf.Tensor, config: DetectorConfig
) -> tf.Tensor:
    """Return int32 [B, M, C]: per box, the anchors of the k nearest locations of each level.

    The anchors of one location are consecutive and share a centre (``anchors``' order), so the
    nearest locations are found among every ``per_location``-th anchor, then widened.
    """
    per_location = config.anchors.per_location
    spread = tf.range(per_location)
    picked, start = [], 0
    for size in level_sizes(config):
        centres = anchor_centres[start : start + size : per_location]  # [locations, 2]
        offsets = box_centres[:, :, None, :] - centres[None, None]  # [B, M, locations, 2]
        distance = tf.reduce_sum(tf.square(offsets), axis=-1)
        k = min(config.anchors.atss_top_k, size // per_location)
        _, nearest = tf.math.top_k(-distance, k=k, sorted=False)  # [B, M, k]
        anchors = start + nearest[..., None] * per_location + spread  # [B, M, k, per_location]
        picked.append(
            tf.reshape(anchors, tf.concat([tf.shape(nearest)[:2], [k * per_location]], 0))
        )
        start += size
    return tf.concat(picked, axis=-1)


def _adaptive_positives(
    boxes: tf.Tensor, candidate_iou: tf.Tensor, candidate_centres: tf.Tensor
) -> tf.Tensor:
    """Return bool [B, M, C]: IoU >= the box's mean + std over candidates, centre inside."""
    count = candidate_iou.shape[-1]  # static: the sum of the levels' k
    mean = tf.reduce_mean(candidate_iou, axis=-1, keepdims=True)
    spread = tf.reduce_sum(tf.square(candidate_iou - mean), axis=-1, keepdims=True)
    std = tf.sqrt(spread / float(max(count - 1, 1)))
    cy, cx = candidate_centres[..., 0], candidate_centres[..., 1]
    ymin, xmin, ymax, xmax = (boxes[..., i, None] for i in range(4))
    inside = tf.reduce_min(tf.stack([cy - ymin, cx - xmin, ymax - cy, xmax - cx], -1), -1)
    return (candidate_iou >= mean + std) & (inside > INSIDE_MARGIN)


def match(
    boxes: tf.Tensor, valid: tf.Tensor, anchors: tf.Tensor, config: DetectorConfig
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Return ``(matched int32 [B, A], positive bool [B, A], negative bool [B, A])``.

    ``boxes`` float32 [B, M, 4] and ``anchors`` float32 [A, 4] are in pixels (anchors in the
    order of ``anchors.generate_anchors``: level by level), ``valid`` bool [B, M] marks the
    real boxes. ``negative`` is ``not positive`` (nothing is ignored).
    """
    num_anchors = anchors.shape[0]
    if num_anchors != sum(level_sizes(config)):
        raise ValueError(f"{num_anchors} anchors do not match the config's levels")
    iou = pairwise_iou(anchors, boxes)  # [B, A, M]
    anchor_centres = _centres(anchors)  # [A, 2]
    candidates = _candidates(_centres(boxes), anchor_centres, config)  # [B, M, C]
    # (image, anchor, box) of every candidate: where to read its IoU and write its score
    shape = tf.shape(candidates)
    b, m, _ = tf.meshgrid(tf.range(shape[0]), tf.range(shape[1]), tf.range(shape[2]), indexing="ij")
    index = tf.stack([b, candidates, m], axis=-1)  # [B, M, C, 3]
    candidate_iou = tf.gather_nd(iou, index)  # [B, M, C]
    positive = _adaptive_positives(boxes, candidate_iou, tf.gather(anchor_centres, candidates))
    positive = positive & valid[:, :, None]
    # Scores [B, A, M]: 1 + IoU where a candidate is positive, 0 elsewhere. The candidates of a
    # box are distinct anchors, so no two updates of the scatter add up.
    updates = tf.where(positive, 1.0 + candidate_iou, 0.0)
    scores = tf.scatter_nd(index, updates, tf.shape(iou))
    if config.anchors.force_match:
        scores = _force_unmatched(scores, iou, valid, num_anchors)
    matched = tf.argmax(scores, axis=2, output_type=tf.int32)
    positive = tf.reduce_max(scores, axis=2) > 0.0
    return matched, positive, tf.logical_not(positive)


def _force_unmatched(
    scores: tf.Tensor, iou: tf.Tensor, valid: tf.Tensor, num_anchors: int
) -> tf.Tensor:
    """Give each valid box that wins no anchor in ``scores`` [B, A, M] its best-IoU anchor."""
    winner = tf.argmax(scores, axis=2, output_type=tf.int32)  # [B, A]
    won = tf.one_hot(winner, tf.shape(scores)[2], dtype=tf.float32)  # [B, A, M]
    won = won * tf.cast(tf.reduce_max(scores, axis=2) > 0.0, tf.float32)[..., None]
    needy = valid & (tf.reduce_max(won, axis=1) == 0.0)  # [B, M]
    best_anchor = tf.argmax(tf.where(valid[:, None, :], iou, -1.0), axis=1, output_type=tf.int32)
    forced = tf.one_hot(best_anchor, num_anchors, axis=1, dtype=tf.float32)  # [B, A, M]
    forced = forced * tf.cast(needy, tf.float32)[:, None, :]
    return tf.maximum(scores, forced * (_FORCED_SCORE + iou))
