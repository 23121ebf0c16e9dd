"""EfficientDet losses: sigmoid focal loss for classes, Huber loss for boxes (TensorFlow).

``detection_loss`` = class loss + ``loss.box_weight`` x box loss, where
class loss = sum of focal losses over all non-ignored anchors and classes / N and
box loss = sum of Huber losses over positive anchors and the 4 deltas / (4 N), with
N = sum of positives over the batch + ``loss.normalizer_offset`` (automl: + 1.0).
"""

from __future__ import annotations

import tensorflow as tf

from components.detector.config import DetectorConfig


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


def detection_loss(
    class_logits: tf.Tensor,
    box_deltas: tf.Tensor,
    class_targets: tf.Tensor,
    box_targets: tf.Tensor,
    num_positives: tf.Tensor,
    config: DetectorConfig,
) -> dict[str, tf.Tensor]:
    """Return ``{"loss", "class_loss", "box_loss"}`` (float32 scalars) for a batch.

    Takes the model outputs ``class_logits`` [B, A, K] and ``box_deltas`` [B, A, 4], and the
    outputs of ``targets.assign_targets``: ``class_targets`` int [B, A] (1..K, 0 background,
    -1 ignored), ``box_targets`` [B, A, 4] and ``num_positives`` [B].
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
    positive = tf.cast(class_targets > 0, tf.float32)[..., None]
    box_loss = tf.reduce_sum(huber_loss(box_targets, box_deltas, cfg.huber_delta) * positive) / (
        4.0 * normalizer
    )
    return {
        "loss": class_loss + cfg.box_weight * box_loss,
        "class_loss": class_loss,
        "box_loss": box_loss,
    }
