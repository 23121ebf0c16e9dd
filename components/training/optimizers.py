"""Optimizers of the train step and the search trials, by ``train.optimizer``.

Each entry takes the learning-rate schedule and the train config and returns the Keras
optimizer and the L2 factor the trainer adds to the loss:

- ``sgd`` (EfficientDet): SGD with ``train.momentum``; ``train.weight_decay`` is an L2 term of
  the loss (``weight_decay * sum(w**2) / 2`` over convolution and dense kernels).
- ``adamw`` (Ultralytics' choice for short runs): AdamW with ``beta_1 = train.momentum``;
  ``train.weight_decay`` is decoupled (the optimizer shrinks the weights, nothing enters the
  loss), applied to convolution and dense kernels only
  (biases and batch-norm weights are excluded).

Both clip the global gradient norm at ``train.clip_norm`` (0: no clipping).
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from components.detector.config import TrainConfig

# name -> (schedule, train config) -> (optimizer, L2 factor of the loss)
Factory = Callable[[object, TrainConfig], tuple[keras.optimizers.Optimizer, float]]


def _clip(train: TrainConfig) -> float | None:
    return train.clip_norm if train.clip_norm > 0 else None


def _sgd(schedule, train: TrainConfig) -> tuple[keras.optimizers.Optimizer, float]:
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule, momentum=train.momentum, global_clipnorm=_clip(train)
    )
    return optimizer, train.weight_decay


def _adamw(schedule, train: TrainConfig) -> tuple[keras.optimizers.Optimizer, float]:
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=train.weight_decay,
        beta_1=train.momentum,
        global_clipnorm=_clip(train),
    )
    return optimizer, 0.0


OPTIMIZERS: dict[str, Factory] = {"sgd": _sgd, "adamw": _adamw}


def build_optimizer(schedule, train: TrainConfig) -> tuple[keras.optimizers.Optimizer, float]:
    """Return ``(optimizer, l2_factor)`` for ``train.optimizer`` over ``schedule``."""
    return OPTIMIZERS[train.optimizer](schedule, train)


def exclude_from_decay(optimizer: keras.optimizers.Optimizer, variables) -> None:
    """Keep decoupled decay off biases and normalisation weights (the variables of rank < 2);
    call before the optimizer is built."""
    if getattr(optimizer, "weight_decay", None):
        optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) < 2])
