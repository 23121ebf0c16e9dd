"""Learning-rate schedule of the train step: linear warm-up, then cosine decay to zero."""

from __future__ import annotations

import keras


def warmup_cosine(
    base_lr: float, total_steps: int, warmup_steps: int, warmup_init: float = 0.0
) -> keras.optimizers.schedules.CosineDecay:
    """Linear warm-up from ``warmup_init`` to ``base_lr`` over ``warmup_steps``, then cosine to 0.

    Args:
        base_lr: the peak learning rate (already scaled for the batch size by the caller).
        total_steps: optimizer steps of the whole run, warm-up included; later steps stay at 0.
        warmup_steps: steps of the linear warm-up (clipped to ``0..total_steps``).
        warmup_init: the learning rate at step 0 when there is a warm-up.

    Returns:
        Keras' own ``CosineDecay`` schedule (serialisable without custom objects).

    Raises:
        ValueError: when ``total_steps`` < 1.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    warmup_steps = int(min(max(warmup_steps, 0), total_steps))
    decay_steps = max(int(total_steps) - warmup_steps, 1)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(float(base_lr), decay_steps)
    return keras.optimizers.schedules.CosineDecay(
        float(warmup_init),
        decay_steps,
        warmup_target=float(base_lr),
        warmup_steps=warmup_steps,
    )


def scaled_learning_rate(lr_per_64: float, batch_size: int, num_replicas: int = 1) -> float:
    """Return the peak learning rate for a global batch: ``lr_per_64 * global_batch / 64``.

    ``batch_size`` is the per-replica batch; the global batch is ``batch_size * num_replicas``.
    """
    return float(lr_per_64) * batch_size * num_replicas / 64.0
