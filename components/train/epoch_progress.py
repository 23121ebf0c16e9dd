"""A progress line after every epoch: ``progress: epoch n/N loss .. val_loss .. eta ..``."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras

from components import progress

SHOWN = ("loss", "val_loss", "val_AP", "val_AP50")


class EpochProgress(keras.callbacks.Callback):
    """Report each finished epoch; ``total_epochs()`` is the current plan (a budget moves it)."""

    def __init__(self, total_epochs: Callable[[], int], stream=None) -> None:
        super().__init__()
        self.total_epochs = total_epochs
        self.stream = stream
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # noqa: D102 - Keras hook
        self._started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: D102 - Keras hook
        self.seconds.append(time.monotonic() - self._started)
        total = max(int(self.total_epochs()), epoch + 1)
        recent = self.seconds[-5:]
        eta = sum(recent) / len(recent) * (total - epoch - 1)
        logs = logs or {}
        numbers = {k: float(logs[k]) for k in SHOWN if k in logs}
        progress.report("epoch", epoch + 1, total, numbers, eta, self.stream)
