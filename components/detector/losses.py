"""EfficientDet losses: sigmoid focal loss for classes, Huber or GIoU loss for boxes (TF).

``detection_loss`` = class loss + weight x box loss, where
class loss = sum of focal losses over all non-ignored anchors and classes / N and the box loss
is ``loss.box_loss``, looked up in ``BOX_LOSSES``:

- ``huber`` (EfficientDet, weight ``loss.box_weight``): the sum of Huber losses over positive
  anchors and the 4 deltas / (4 N);
- ``giou`` (weight ``loss.giou_weight``): the sum over positive anchors of 1 - GIoU between the
  predicted box (the deltas decoded against the anchor) and the ground-truth box / N.

N = sum of positives over the batch + ``loss.normalizer_offset`` (automl: + 1.0).

The default ``giou_weight`` 2.0 is mmdetection's for ATSS / FCOS (a GIoU loss of weight 2
beside a focal loss of weight 1, both per positive). It keeps the box term of the same size as
Huber's: on the bundled sample (``tiny``, first 8 epochs) 50 x Huber is 0.45-0.7 and
2 x (1 - GIoU) 0.7-1.0. Per positive and unit of a centre delta the gradient of 2 x (1 - GIoU)
is 2-4 (4 near a perfect box, 2 when half a box off), that of 50 x Huber 1.25 beyond its 0.1
delta and less within: GIoU pulls harder on nearly right boxes (weight 1 would halve it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from components.detector import box_coding
from components.detector.config import DetectorConfig, LossConfig


def focal_loss(labels: tf.Tensor, logits: tf.Tensor, alpha: float, gamma: float) -> tf.Tensor:
    """Return the element-wise sigmoid focal loss (same shape as ``logits``).

    ``labels`` are 0/1 targets; loss = alpha_t * (1 - p_t)**gamma * BCE(labels, sigmoid(logits)).
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.float32)
    probs = tf.sigmoid(logits)
    cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    p_t = labels * probs + (1.0 - labels) * (1.0 - probs)
    alpha_t = labels * alpha + (1.0 - labels) * (1.0 - alpha)
    if gamma == 0:
        return alpha_t * cross_entropy
    # the floor keeps the gradient of pow() finite when a prediction saturates (p_t == 1)
    return alpha_t * tf.pow(tf.maximum(1.0 - p_t, 1e-12), gamma) * cross_entropy


def _modulator(probs: tf.Tensor, gamma: float) -> tf.Tensor:
    """Return ``probs ** gamma`` with the cheapest exact op sequence for common gammas."""
    if gamma == 1:
        return probs
    if gamma == 2:
        return tf.square(probs)
    if gamma == 1.5:
        return probs * tf.sqrt(probs)
    return tf.pow(probs, gamma)


def _background_focal(logits: tf.Tensor, alpha: float, gamma: float) -> tf.Tensor:
    """Return the element-wise focal loss of ``logits`` for label 0, with a fused gradient.

    loss = (1 - alpha) * sigmoid(x)**gamma * softplus(x); d loss / dx =
    (1 - alpha) * sigmoid(x)**gamma * (gamma * (1 - sigmoid(x)) * softplus(x) + sigmoid(x)).
    The hand-written gradient costs a few element-wise passes instead of the autodiff chain of
    ``focal_loss`` (this tensor is [B, A, K], the largest of the train step).
    """

    @tf.custom_gradient
    def _loss(x):
        probs = tf.sigmoid(x)
        softplus = tf.nn.softplus(x)
        if gamma == 0:
            weighted = softplus
        else:
            modulator = _modulator(probs, gamma)
            weighted = modulator * softplus
        scale = 1.0 - alpha

        def grad(upstream):
            if gamma == 0:
                return upstream * (scale * probs)
            inner = (1.0 - probs) * softplus
            if gamma != 1:
                inner = inner * gamma
            return upstream * (scale * modulator * (inner + probs))

        return weighted * scale, grad

    return _loss(logits)


def huber_loss(targets: tf.Tensor, predictions: tf.Tensor, delta: float) -> tf.Tensor:
    """Return the element-wise Huber loss: 0.5 e**2 if |e| <= delta else delta (|e| - delta / 2)."""
    error = tf.abs(tf.cast(predictions, tf.float32) - tf.cast(targets, tf.float32))
    quadratic = tf.minimum(error, delta)
    return 0.5 * quadratic * quadratic + delta * (error - quadratic)


def generalized_iou(boxes_a: tf.Tensor, boxes_b: tf.Tensor) -> tf.Tensor:
    """Return the GIoU [...] of paired boxes [..., 4] (ymin, xmin, ymax, xmax; same units).

    GIoU = IoU - (C - U) / C with U the union and C the smallest box enclosing both
    (Rezatofighi et al. 2019); in [-1, 1], 1 only for identical boxes.
    """
    a = tf.cast(boxes_a, tf.float32)
    b = tf.cast(boxes_b, tf.float32)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    low = tf.maximum(a[..., :2], b[..., :2])
    high = tf.minimum(a[..., 2:], b[..., 2:])
    inter = tf.reduce_prod(tf.nn.relu(high - low), axis=-1)
    union = area_a + area_b - inter
    iou = inter / tf.maximum(union, 1e-8)
    enclosing = tf.reduce_prod(
        tf.maximum(a[..., 2:], b[..., 2:]) - tf.minimum(a[..., :2], b[..., :2]), axis=-1
    )
    return iou - (enclosing - union) / tf.maximum(enclosing, 1e-8)


def _huber_box_loss(box_deltas, box_targets, class_targets, normalizer, anchors, cfg):
    positive = tf.cast(class_targets > 0, tf.float32)[..., None]
    huber = huber_loss(box_targets, box_deltas, cfg.huber_delta)
    return tf.reduce_sum(huber * positive) / (4.0 * normalizer)


def _giou_box_loss(box_deltas, box_targets, class_targets, normalizer, anchors, cfg):
    if anchors is None:
        raise ValueError("loss.box_loss 'giou' needs the anchors: pass detection_loss(anchors=)")
    index = tf.where(class_targets > 0)  # [P, rank]: (image, anchor) or (anchor,)
    anchors = tf.gather(tf.cast(anchors, tf.float32), index[:, -1])  # [P, 4]
    predicted = box_coding.decode(tf.gather_nd(box_deltas, index), anchors)
    truth = box_coding.decode(tf.gather_nd(box_targets, index), anchors)
    return tf.reduce_sum(1.0 - generalized_iou(predicted, truth)) / normalizer


@dataclass(frozen=True)
class BoxLoss:
    """A box loss: ``compute(box_deltas, box_targets, class_targets, normalizer, anchors,
    loss_config)`` -> the unweighted float32 scalar, and its weight in the total loss."""

    compute: Callable[..., tf.Tensor]
    weight: Callable[[LossConfig], float]


BOX_LOSSES: dict[str, BoxLoss] = {
    "huber": BoxLoss(_huber_box_loss, lambda cfg: cfg.box_weight),
    "giou": BoxLoss(_giou_box_loss, lambda cfg: cfg.giou_weight),
}


def detection_loss(
    class_logits: tf.Tensor,
    box_deltas: tf.Tensor,
    class_targets: tf.Tensor,
    box_targets: tf.Tensor,
    num_positives: tf.Tensor,
    config: DetectorConfig,
    anchors: tf.Tensor | np.ndarray | None = None,
) -> dict[str, tf.Tensor]:
    """Return ``{"loss", "class_loss", "box_loss"}`` (float32 scalars) for a batch.

    Takes the model outputs ``class_logits`` [B, A, K] and ``box_deltas`` [B, A, 4], and the
    outputs of ``targets.assign_targets``: ``class_targets`` int [B, A] (1..K, 0 background,
    -1 ignored), ``box_targets`` [B, A, 4] and ``num_positives`` [B]. ``anchors`` [A, 4] (the
    pixel anchors the targets were encoded against) are needed by the ``giou`` box loss only.
    ``box_loss`` is unweighted; ``loss`` = ``class_loss`` + its weight x ``box_loss``.
    """
    cfg = config.loss
    class_logits = tf.cast(class_logits, tf.float32)
    class_targets = tf.cast(class_targets, tf.int32)
    normalizer = tf.reduce_sum(tf.cast(num_positives, tf.float32)) + cfg.normalizer_offset
    normalizer = tf.maximum(normalizer, 1e-8)
    # The focal loss of every (anchor, class) as if it were background, corrected at the few
    # positive (anchor, class) entries by their label-1 minus label-0 loss: no [B, A, K]
    # one-hot labels and no update of the [B, A, K] tensor.
    background = _background_focal(class_logits, cfg.focal_alpha, cfg.focal_gamma)
    keep = tf.cast(class_targets >= 0, tf.float32)  # ignored anchors (-1) add nothing
    background_sum = tf.reduce_sum(tf.reduce_sum(background, axis=-1) * keep)
    positive_index = tf.where(class_targets > 0)  # [P, rank - 1]
    positive_class = tf.gather_nd(class_targets, positive_index) - 1
    positive_index = tf.concat([positive_index, tf.cast(positive_class, tf.int64)[:, None]], 1)
    positive_logits = tf.gather_nd(class_logits, positive_index)
    positive_loss = focal_loss(
        tf.ones_like(positive_logits), positive_logits, cfg.focal_alpha, cfg.focal_gamma
    )
    correction = positive_loss - _background_focal(
        positive_logits, cfg.focal_alpha, cfg.focal_gamma
    )
    class_loss = (background_sum + tf.reduce_sum(correction)) / normalizer
    box = BOX_LOSSES[cfg.box_loss]
    box_loss = box.compute(box_deltas, box_targets, class_targets, normalizer, anchors, cfg)
    return {
        "loss": class_loss + box.weight(cfg) * box_loss,
        "class_loss": class_loss,
        "box_loss": box_loss,
    }
