"""The train step on an object store (the in-memory one stands in for gs:// / s3://): warm start
from a version pushed there, checkpoints kept there, and a run interrupted after its first
epoch resumed from them in a fresh local folder."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

from components import files, local_copy
from components.artifacts import model, serving
from components.detector import model as model_lib
from components.detector.config_load import get_preset
from components.errors import UserError
from components.train import callbacks, run
from tests.components.train.conftest import SMALL

SERVING = "memstore://bucket/serving"
WORK = "memstore://bucket/checkpoints/run1/train"


class Interrupted(Exception):
    """Stands in for the pod being killed once epoch 1 is checkpointed (and synced)."""


def _push_version(object_store: dict, config, tmp_path) -> list[np.ndarray]:
    """Put version 1 of model ``det`` on the store, with weights no fresh model starts from."""
    detector = model_lib.build_detector(config)
    weights = [w + 0.5 for w in detector.get_weights()]
    detector.set_weights(weights)
    local = str(tmp_path / model.WEIGHTS_FILE)
    detector.save_weights(local)
    version = f"{SERVING}/det/1"
    files.copy(local, f"{version}/{model.WEIGHTS_FILE}")
    object_store[f"{version}/{model.CONFIG_FILE}"] = config.to_json().encode()
    object_store[f"{version}/{model.SAVED_MODEL_PB}"] = b"pb"
    return weights


class _Record(keras.callbacks.Callback):
    """Keeps the detector's weights and the optimizer step when training begins and at each
    epoch's end; raises ``Interrupted`` after epoch ``stop`` (0: never)."""

    def __init__(self, stop: int = 0) -> None:
        super().__init__()
        self.stop, self.begin, self.ends = stop, None, []

    def _state(self) -> tuple[list[np.ndarray], int]:
        return self.model.detector.get_weights(), int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None) -> None:
        self.begin = self._state()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.ends.append(self._state())
        if epoch + 1 == self.stop:
            raise Interrupted


@pytest.mark.slow
def test_warm_start_and_checkpoints_on_an_object_store(object_store, resume_examples, tmp_path):
    config = get_preset("tiny").with_overrides({**SMALL, "num_classes": 1})
    pushed = _push_version(object_store, config, tmp_path)
    arch = tmp_path / "architecture.json"
    arch.write_text(config.to_json())
    version = serving.newest_version(SERVING, "det")  # what warm_start=production resolves to
    assert version is not None and version.root == f"{SERVING}/det/1"
    args = dict(epochs=2, warm_start=version.root, work_dir=WORK, bn_batches=1, verbose=0)
    output = str(tmp_path / "model")

    killed = _Record(stop=1)
    with pytest.raises(Interrupted):
        run(str(resume_examples), str(arch), output, extra_callbacks=[killed], **args)
    for ours, theirs in zip(killed.begin[0], pushed, strict=True):
        np.testing.assert_array_equal(ours, theirs)  # started from the pushed version
    assert not os.path.exists(output)
    assert not os.path.exists(local_copy.staging_path(WORK))  # only the object store keeps it
    remote = json.loads(files.read_text(f"{WORK}/{callbacks.STATE_FILE}"))
    assert remote["epochs_done"] == 1 and remote["checkpoint"].endswith("ckpt-1")
    assert any(key.startswith(f"{WORK}/{callbacks.CKPT_DIR}/ckpt-1") for key in object_store)

    resumed = _Record()
    summary = run(str(resume_examples), str(arch), output, extra_callbacks=[resumed], **args)
    assert summary["initial_epoch"] == 1 and summary["epochs_run"] == 2
    weights, step = resumed.begin
    assert step == killed.ends[0][1] == summary["steps_per_epoch"]
    for ours, theirs in zip(weights, killed.ends[0][0], strict=True):
        np.testing.assert_array_equal(ours, theirs)  # resumed from epoch 1's checkpoint
    assert files.is_file(os.path.join(output, model.WEIGHTS_FILE))
    assert not [key for key in object_store if key.startswith(WORK)]  # removed after success


def test_a_warm_start_missing_on_the_object_store_is_a_user_error(
    object_store, resume_examples, tmp_path
):
    arch = tmp_path / "architecture.json"
    arch.write_text(get_preset("tiny").with_overrides(SMALL).to_json())
    missing = f"{SERVING}/det/9"
    with pytest.raises(UserError, match=f"--warm-start {missing}: no {model.WEIGHTS_FILE}"):
        run(
            str(resume_examples),
            str(arch),
            str(tmp_path / "model"),
            epochs=1,
            warm_start=missing,
            work_dir=WORK,
        )
