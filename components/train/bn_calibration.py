"""Re-estimate batch-norm statistics for the final weights ("precise BN").

During training the moving mean and variance trail the weights (momentum 0.99 averages the
statistics of weights from the last hundreds of steps, and the EMA weights never produced any
of them). Short runs export a model whose inference-mode outputs differ badly from its
training-mode outputs. After training, the statistics are recomputed with the final weights:
each batch-norm layer gets the average of its per-batch statistics over some training batches
(without augmentation).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def batch_norm_layers(model: keras.Layer) -> list[keras.layers.BatchNormalization]:
    """Return every ``BatchNormalization`` layer of ``model``, nested models included."""
    found: list[keras.layers.BatchNormalization] = []
    seen: set[int] = set()

    def walk(layer) -> None:
        for child in getattr(layer, "layers", []):
            if id(child) in seen:
                continue
            seen.add(id(child))
            if isinstance(child, keras.layers.BatchNormalization):
                found.append(child)
            walk(child)

    walk(model)
    return found


def recalibrate_batch_norm(
    model: keras.Model, dataset: tf.data.Dataset, max_batches: int = 50
) -> int:
    """Set each trainable batch-norm layer's moving statistics to their mean over batches.

    ``dataset`` yields ``(images, labels)`` batches for ``model``; at most ``max_batches`` are
    used. Frozen layers (``trainable=False``) are left alone. Returns the number of batches used
    (0 leaves the model unchanged).
    """
    layers = [bn for bn in batch_norm_layers(model) if bn.trainable]
    if not layers or max_batches < 1:
        return 0
    saved_momentum = [bn.momentum for bn in layers]
    saved_stats = [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in layers]
    sums = [
        [np.zeros_like(m, dtype=np.float64), np.zeros_like(v, dtype=np.float64)]
        for m, v in saved_stats
    ]
    for bn in layers:
        bn.momentum = 0.0  # one training-mode call leaves the batch statistics in the moving ones
    forward = tf.function(lambda images: model(images, training=True), autograph=False)
    batches = 0
    try:
        for images, _ in dataset.take(max_batches):
            forward(images)
            batches += 1
            for total, bn in zip(sums, layers, strict=True):
                total[0] += bn.moving_mean.numpy()
                total[1] += bn.moving_variance.numpy()
    finally:
        for bn, momentum in zip(layers, saved_momentum, strict=True):
            bn.momentum = momentum
    for bn, (mean, var), total in zip(layers, saved_stats, sums, strict=True):
        if batches:
            mean, var = total[0] / batches, total[1] / batches
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(var.astype(np.float32))
    return batches
