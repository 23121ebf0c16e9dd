"""Learning-rate schedule of the train step: linear warm-up, then cosine decay to zero."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nasdet")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``warmup_init`` to ``base_lr`` over ``warmup_steps``, then cosine to 0.

    ``base_lr`` is the peak learning rate (already scaled for the batch size by the caller),
    ``total_steps`` the number of optimizer steps of the whole run (warm-up included). Calling the
    schedule with a step returns the learning rate (float32 scalar) for that step; steps past
    ``total_steps`` stay at 0.
    """

    def __init__(
        self,
        base_lr: float,
        total_steps: int,
        warmup_steps: int,
        warmup_init: float = 0.0,
    ) -> None:
        super().__init__()
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(min(max(warmup_steps, 0), total_steps))
        self.warmup_init = float(warmup_init)

    def __call__(self, step):
        """Return the learning rate at optimizer step ``step`` (0-based)."""
        step = ops.cast(step, "float32")
        warm = float(max(self.warmup_steps, 1))
        warmup_lr = self.warmup_init + (self.base_lr - self.warmup_init) * step / warm
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine_lr = 0.5 * self.base_lr * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return cosine_lr
        return ops.where(step < self.warmup_steps, warmup_lr, cosine_lr)

    def get_config(self) -> dict:
        """Return the constructor arguments (Keras serialisation)."""
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_init": self.warmup_init,
        }


def scaled_learning_rate(lr_per_64: float, batch_size: int, num_replicas: int = 1) -> float:
    """Return the peak learning rate for a global batch: ``lr_per_64 * global_batch / 64``.

    ``batch_size`` is the per-replica batch; the global batch is ``batch_size * num_replicas``.
    """
    return float(lr_per_64) * batch_size * num_replicas / 64.0
