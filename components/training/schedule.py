"""Learning-rate schedule of the train step: linear warm-up, then cosine decay to zero.

The length of the run is a variable of the schedule, not a constant traced into the train step:
a training budget (``components.training.budget``) re-fits it after every epoch, as Ultralytics'
``time=`` does, and the cosine then ends where the budget does.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="nasdet")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``warmup_init`` to ``base_lr`` over ``warmup_steps``, then a cosine
    from ``base_lr`` to 0 at ``total_steps`` (0 afterwards).

    ``total_steps`` lives in a ``tf.Variable``: :meth:`set_total_steps` changes the end of the
    cosine while training runs (the compiled train step reads the variable).
    """

    def __init__(
        self, base_lr: float, total_steps: int, warmup_steps: int, warmup_init: float = 0.0
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.base_lr = float(base_lr)
        self.warmup_steps = int(min(max(warmup_steps, 0), total_steps))
        self.warmup_init = float(warmup_init) if self.warmup_steps else float(base_lr)
        self.total_steps = tf.Variable(
            float(total_steps), trainable=False, dtype=tf.float32, name="schedule_total_steps"
        )

    def set_total_steps(self, total_steps: int) -> None:
        """Make the cosine end at ``total_steps`` (at least one step after the warm-up)."""
        self.total_steps.assign(float(max(int(total_steps), self.warmup_steps + 1)))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = float(self.warmup_steps)
        decay = tf.maximum(self.total_steps - warmup, 1.0)
        progress = tf.clip_by_value((step - warmup) / decay, 0.0, 1.0)
        cosine = 0.5 * self.base_lr * (1.0 + tf.cos(math.pi * progress))
        if not self.warmup_steps:
            return cosine
        ramp = self.warmup_init + (self.base_lr - self.warmup_init) * step / warmup
        return tf.where(step < warmup, ramp, cosine)

    def get_config(self) -> dict:
        """The constructor arguments (the current ``total_steps`` included)."""
        return {
            "base_lr": self.base_lr,
            "total_steps": int(self.total_steps.numpy()),
            "warmup_steps": self.warmup_steps,
            "warmup_init": self.warmup_init,
        }


def warmup_cosine(
    base_lr: float, total_steps: int, warmup_steps: int, warmup_init: float = 0.0
) -> WarmupCosine:
    """Linear warm-up from ``warmup_init`` to ``base_lr`` over ``warmup_steps``, then cosine to 0.

    Args:
        base_lr: the peak learning rate (already scaled for the batch size by the caller).
        total_steps: optimizer steps of the whole run, warm-up included; later steps stay at 0.
        warmup_steps: steps of the linear warm-up (clipped to ``0..total_steps``).
        warmup_init: the learning rate at step 0 when there is a warm-up.

    Returns:
        A :class:`WarmupCosine` (serialisable with Keras; its end can be moved while training).

    Raises:
        ValueError: when ``total_steps`` < 1.
    """
    return WarmupCosine(base_lr, total_steps, warmup_steps, warmup_init)


def scaled_learning_rate(lr_per_64: float, batch_size: int, num_replicas: int = 1) -> float:
    """Return the peak learning rate for a global batch: ``lr_per_64 * global_batch / 64``.

    ``batch_size`` is the per-replica batch; the global batch is ``batch_size * num_replicas``.
    """
    return float(lr_per_64) * batch_size * num_replicas / 64.0
