"""Callbacks of the train step: per-epoch checkpoint + resume state, history, early stopping, EMA,
closing the mosaic.

The working directory (it survives a crash) holds::

    ckpt/ckpt-N.{index,data-*}   model, EMA shadows and optimizer state after epoch N
    state.json                  epochs done, history rows, early-stopping state, run fingerprint
    history.csv                 one row per finished epoch (rewritten from state.json)
    best.weights.h5             the exported weights (EMA when enabled) of the best epoch
    logs/                       TensorBoard event files

``state.json`` is written (atomically) only after its checkpoint, so a crash at any point resumes
from a consistent epoch. A working directory on a URI is a local copy synced up after each
epoch with ``state.json`` last (``components.local_copy``), which keeps that order.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import keras
import tensorflow as tf

from components import files
from components.data import mosaic

STATE_FILE = "state.json"
HISTORY_FILE = "history.csv"
BEST_WEIGHTS_FILE = "best.weights.h5"
CKPT_DIR = "ckpt"
LOGS_DIR = "logs"


@dataclass
class TrainState:
    """What a resumed run needs besides the checkpoint: progress, history and early stopping."""

    fingerprint: dict
    epochs_done: int = 0
    checkpoint: str | None = None
    history: list[dict] = field(default_factory=list)
    monitor: str = "val_loss"
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    stopped_early: bool = False
    planned_epochs: int | None = None  # a budgeted run's plan (components.training.budget)
    budget_used_s: float = 0.0

    @classmethod
    def load(cls, work_dir: str) -> TrainState | None:
        """Return the state saved in ``work_dir``, or None when there is none."""
        path = os.path.join(work_dir, STATE_FILE)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))

    def save(self, work_dir: str) -> None:
        """Write ``state.json`` and ``history.csv`` in ``work_dir`` atomically (tmp + rename)."""
        files.write_atomically(
            os.path.join(work_dir, STATE_FILE), json.dumps(asdict(self), indent=2)
        )
        write_history_csv(self.history, os.path.join(work_dir, HISTORY_FILE))


def write_history_csv(rows: list[dict], path: str) -> None:
    """Write ``rows`` (one dict per epoch, key ``epoch`` first) as CSV to ``path``."""
    keys: list[str] = ["epoch"]
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    files.write_atomically(path, text.getvalue())


class EmaEvaluation(keras.callbacks.Callback):
    """Evaluate with the EMA weights: swap them in for validation and back for training."""

    def __init__(self, average) -> None:
        super().__init__()
        self.average = average

    def on_test_begin(self, logs=None) -> None:  # noqa: D102 - Keras hook
        self.average.swap()

    def on_test_end(self, logs=None) -> None:  # noqa: D102 - Keras hook
        self.average.swap()


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: checkpoint, record history, keep the best weights, stop early.

    ``checkpoint`` is a ``tf.train.Checkpoint`` of the trainer and its optimizer,
    ``export_weights`` a function ``(path) -> None`` that saves the weights to export (the EMA
    weights when enabled) as ``.weights.h5``. Early stopping watches ``state.monitor`` with
    ``patience`` epochs (0 disables it); improvements smaller than ``min_delta`` do not count.
    ``after_save`` is called once the epoch's files are written (a URI working directory
    syncs its local copy up).
    """

    def __init__(
        self,
        work_dir: str,
        state: TrainState,
        checkpoint: tf.train.Checkpoint,
        export_weights,
        patience: int,
        min_delta: float = 0.0,
        max_to_keep: int = 2,
        after_save: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.work_dir = work_dir
        self.state = state
        self.export_weights = export_weights
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.after_save = after_save
        self.manager = tf.train.CheckpointManager(
            checkpoint, os.path.join(work_dir, CKPT_DIR), max_to_keep=max_to_keep
        )

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: D102 - Keras hook
        logs = dict(logs or {})
        row = {"epoch": epoch + 1}
        row.update({k: _number(v) for k, v in logs.items()})
        state = self.state
        value = row.get(state.monitor)
        if value is not None and math.isfinite(value):
            if state.best is None or value < state.best - self.min_delta:
                state.best, state.best_epoch, state.wait = value, epoch + 1, 0
                self.export_weights(os.path.join(self.work_dir, BEST_WEIGHTS_FILE))
            else:
                state.wait += 1
        if self.patience > 0 and state.wait >= self.patience:
            state.stopped_early = True
            self.model.stop_training = True
        state.checkpoint = self.manager.save(checkpoint_number=epoch + 1)
        state.epochs_done = epoch + 1
        state.history = [r for r in state.history if r["epoch"] <= epoch] + [row]
        state.save(self.work_dir)
        if self.after_save is not None:
            self.after_save()


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


_MOSAIC_SWITCHES: dict[str, mosaic.MosaicSwitch] = {}


def mosaic_switch(work_dir: str) -> mosaic.MosaicSwitch:
    """Return the mosaic switch of the training run of ``work_dir`` (made, on, at first use).

    The run's train dataset reads it and its ``CloseMosaic`` sets it; a working directory holds
    one run at a time, so it names the run.
    """
    key = os.path.abspath(work_dir)
    if key not in _MOSAIC_SWITCHES:
        _MOSAIC_SWITCHES[key] = mosaic.MosaicSwitch()
    return _MOSAIC_SWITCHES[key]


class CloseMosaic(keras.callbacks.Callback):
    """Close the mosaic for the last ``ceil(close_fraction x epochs)`` epochs (Ultralytics'
    ``close_mosaic``), opening it for the others: set at the start of every epoch, so a resumed
    run is right too. ``total_epochs`` is the run's epochs or a function returning them (a
    budgeted run re-plans them after every epoch). The few batches ``tf.data`` has prefetched
    when the switch flips keep the previous setting.
    """

    def __init__(
        self,
        switch: mosaic.MosaicSwitch,
        close_fraction: float,
        total_epochs: int | Callable[[], int],
    ) -> None:
        super().__init__()
        self.switch = switch
        self.close_fraction = float(close_fraction)
        self.total_epochs = total_epochs

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # noqa: D102 - Keras hook
        total = self.total_epochs() if callable(self.total_epochs) else self.total_epochs
        self.switch.set(epoch < mosaic.mosaic_epochs(int(total), self.close_fraction))
