"""Per-epoch checkpoint, history and early stopping of the train step (no training needed)."""

from __future__ import annotations

import csv

import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from components.train import callbacks  # noqa: E402


def test_checkpoint_history_and_early_stopping(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    state = callbacks.TrainState(fingerprint={"run": 1}, monitor="val_loss")
    saved = []
    callback = callbacks.EpochCheckpoint(
        str(tmp_path),
        state,
        tf.train.Checkpoint(weights=list(model.weights)),
        export_weights=saved.append,
        patience=2,
    )
    model.stop_training = False
    callback.set_model(model)
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.96, 0.5]):
        if model.stop_training:
            break
        callback.on_epoch_end(epoch, {"loss": 2.0 - epoch, "val_loss": val_loss})
    assert model.stop_training and state.stopped_early
    assert state.best == pytest.approx(0.9) and state.best_epoch == 2
    assert saved == [str(tmp_path / callbacks.BEST_WEIGHTS_FILE)] * 2  # epochs 1 and 2 improved

    restored = callbacks.TrainState.load(str(tmp_path))
    assert restored == state and restored.epochs_done == 4
    assert tf.train.latest_checkpoint(str(tmp_path / callbacks.CKPT_DIR)).endswith("ckpt-4")
    assert restored.checkpoint.endswith("ckpt-4")
    with open(tmp_path / callbacks.HISTORY_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["val_loss"]) for r in rows] == pytest.approx([1.0, 0.9, 0.95, 0.96])


def test_missing_state_is_none(tmp_path):
    assert callbacks.TrainState.load(str(tmp_path)) is None
