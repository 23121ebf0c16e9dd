"""A training process killed after epoch 1 resumes from its checkpoint when started again."""

from __future__ import annotations

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from components.detector.config_load import get_preset

REPO = pathlib.Path(__file__).resolve().parents[3]

# A very small architecture: the test is about checkpoints, not accuracy.
SMALL = {
    "image_size": 64,
    "bifpn.width": 16,
    "bifpn.depth": 1,
    "head.depth": 1,
    "backbone.cells.stem_width": 8,
    "backbone.cells.filters": 8,
    "train.ema_decay": 0.99,
    "train.early_stopping_patience": 0,
}

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import keras
    import numpy as np
    from components.train import run

    examples, arch, output, mode, dump = sys.argv[1:6]

    def dump_state(model, path):
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        arrays["iterations"] = np.asarray(int(model.optimizer.iterations.numpy()))
        np.savez(path, **arrays)

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            dump_state(self.model, dump)
            os.kill(os.getpid(), signal.SIGKILL)

    class RecordStart(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            dump_state(self.model, dump)

    extra = [KillAfterFirstEpoch()] if mode == "kill" else [RecordStart()]
    summary = run(examples, arch, output, epochs=3, extra_callbacks=extra, verbose=2)
    print("SUMMARY " + json.dumps(summary))
    """
)


def _train(script, examples, arch, output, mode, dump):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, str(script), str(examples), str(arch), str(output), mode, str(dump)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_killed_training_resumes_from_last_checkpoint(tmp_path, resume_examples):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    arch = tmp_path / "architecture.json"
    arch.write_text(get_preset("tiny").with_overrides(SMALL).to_json())
    output = tmp_path / "model"
    work = tmp_path / "model.work"

    killed = _train(script, resume_examples, arch, output, "kill", tmp_path / "at_kill.npz")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not output.exists()
    state = json.loads((work / "state.json").read_text())
    assert state["epochs_done"] == 1 and [r["epoch"] for r in state["history"]] == [1]

    resumed = _train(script, resume_examples, arch, output, "resume", tmp_path / "at_resume.npz")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.split("SUMMARY ", 1)[1])
    assert summary["initial_epoch"] == 1 and summary["epochs_run"] == 3

    # The resumed process started from the weights (EMA included) and optimizer step of epoch 1.
    at_kill, at_resume = np.load(tmp_path / "at_kill.npz"), np.load(tmp_path / "at_resume.npz")
    assert int(at_kill["iterations"]) == int(at_resume["iterations"]) == summary["steps_per_epoch"]
    weights = [k for k in at_kill.files if k != "iterations"]
    assert len(weights) > 10 and set(weights) == set(at_resume.files) - {"iterations"}
    for key in weights:
        np.testing.assert_array_equal(at_kill[key], at_resume[key])

    # A complete Model artifact; the working directory is gone.
    for name in (
        "saved_model/saved_model.pb",
        "model.weights.h5",
        "detector_config.json",
        "labels.json",
    ):
        assert (output / name).is_file(), name
    assert any((output / "logs").rglob("events.out.tfevents.*"))
    with open(output / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "val_loss", "class_loss", "box_loss"} <= set(rows[0])
    assert not work.exists()
