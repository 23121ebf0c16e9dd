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


def test_close_mosaic_closes_the_last_epochs_and_reopens_on_resume(tmp_path):
    switch = callbacks.mosaic_switch(str(tmp_path / "work"))
    assert callbacks.mosaic_switch(str(tmp_path / "work")) is switch  # one switch per run
    assert callbacks.mosaic_switch(str(tmp_path / "other")) is not switch
    fixed = callbacks.CloseMosaic(switch, 0.15, 20)  # the last ceil(3.0) = 3 epochs closed
    states = []
    for epoch in range(20):
        fixed.on_epoch_begin(epoch)
        states.append(switch.on)
    assert states == [True] * 17 + [False] * 3
    fixed.on_epoch_begin(5)  # a resumed run starts before the closing epoch: open again
    assert switch.on
    planned = {"epochs": 100}
    budgeted = callbacks.CloseMosaic(switch, 0.5, lambda: planned["epochs"])
    budgeted.on_epoch_begin(4)
    assert switch.on
    planned["epochs"] = 8  # a budget re-planned the run: epochs 4..7 are the closed half
    budgeted.on_epoch_begin(4)
    assert not switch.on
