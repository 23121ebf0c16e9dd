"""Training for a time budget (epochs and schedule fitted to it); train never reads Split-test."""

from __future__ import annotations

import shutil

import pytest

keras = pytest.importorskip("keras")

from components.detector.anchor_fit import fit_to_examples  # noqa: E402
from components.detector.config import DetectorConfig  # noqa: E402
from components.detector.config_load import load_architecture  # noqa: E402
from components.train import run  # noqa: E402
from components.train.callbacks import TrainState  # noqa: E402
from components.training.budget import TrainingBudget  # noqa: E402
from components.training.schedule import warmup_cosine  # noqa: E402
from tests.components.train.conftest import SMALL  # noqa: E402


class _Clock:
    """A fake clock: each epoch costs ``seconds[i]`` (the last value repeats)."""

    def __init__(self, seconds):
        self.now, self.seconds, self.epoch = 0.0, list(seconds), 0

    def __call__(self):
        return self.now

    def tick(self):
        self.now += self.seconds[min(self.epoch, len(self.seconds) - 1)]
        self.epoch += 1


def _drive(budget_s, seconds, state, max_epochs=1000, steps=10):
    """Run the callback's hooks as Keras would until it stops training; return the schedule."""
    clock = _Clock(seconds)
    schedule = warmup_cosine(1.0, total_steps=30 * steps, warmup_steps=steps)
    callback = TrainingBudget(budget_s, state, schedule, steps, max_epochs, clock=clock)
    callback.set_model(keras.Sequential())
    callback.model.stop_training = False
    callback.on_train_begin()
    epoch = state.epochs_done
    while not callback.model.stop_training:
        callback.on_epoch_begin(epoch)
        clock.tick()
        callback.on_epoch_end(epoch)
        epoch += 1
        state.epochs_done = epoch
    return schedule, epoch


def test_budget_fits_epochs_and_schedule_to_the_measured_epoch_time():
    state = TrainState(fingerprint={})
    # The first epoch costs 5 s (tracing), the others 2 s: 5 + 2 * 12 = 29 <= 30 < 31.
    schedule, epochs = _drive(30.0, [5.0, 2.0], state)
    assert epochs == 13 and state.planned_epochs == 13
    assert state.budget_used_s == pytest.approx(29.0)
    assert int(schedule.total_steps.numpy()) == 13 * 10  # the cosine ends with the budget
    assert float(schedule(13 * 10)) == pytest.approx(0.0, abs=1e-7)
    assert float(schedule(12 * 10)) > 0.0


def test_budget_respects_the_epoch_cap_and_resumes_with_what_is_left():
    state = TrainState(fingerprint={})
    _, epochs = _drive(100.0, [1.0], state, max_epochs=4)
    assert epochs == 4 and state.planned_epochs == 4
    # A resumed attempt starts from the saved plan and the seconds already used.
    state = TrainState(fingerprint={}, epochs_done=3, planned_epochs=10, budget_used_s=7.0)
    _, epochs = _drive(10.0, [1.0], state)
    assert epochs == 6 and state.budget_used_s == pytest.approx(10.0)


def test_budgeted_training_stops_by_itself_and_never_reads_test(resume_examples, tmp_path):
    examples = tmp_path / "examples"
    shutil.copytree(resume_examples, examples)
    trap = examples / "Split-test"
    trap.mkdir()  # any read of it raises DataLossError: train must not open it
    (trap / "data_tfrecord-00000-of-00001.gz").write_bytes(b"not a gzip tfrecord" * 64)
    arch = tmp_path / "arch.json"
    config = load_architecture("tiny").with_overrides(
        {**SMALL, "anchors.fit": True, "anchors.anchor_scale": 1.0}
    )
    arch.write_text(config.to_json())
    summary = run(str(examples), str(arch), str(tmp_path / "model"), budget_s=6.0, verbose=0)
    assert summary["budget_s"] == 6.0
    assert 1 <= summary["epochs_run"] < 1000 and not summary["stopped_early"]
    # It stops within one epoch of the budget (an epoch here takes well under 6 CPU s).
    assert (
        0 < summary["budget_used_s"] <= 6.0 + summary["budget_used_s"] / summary["epochs_run"] * 2
    )
    assert (tmp_path / "model" / "saved_model").is_dir()
    # The anchors were fitted to the train split's boxes (anchors of scale 1, 8 px on level 3,
    # are far smaller than the raccoons), and the artifact's config says which scale it has.
    fitted, fit = fit_to_examples(config.replace(num_classes=1), str(resume_examples), "train")
    assert fit.anchor_scale > 1.0 and fit.covered[fit.anchor_scale] > fit.covered[1.0]
    saved = DetectorConfig.load(str(tmp_path / "model" / "detector_config.json"))
    assert saved.anchors.anchor_scale == fitted.anchors.anchor_scale and saved.anchors.fit


def test_bad_budget_is_a_user_error(resume_examples, tmp_path):
    from components.errors import UserError

    with pytest.raises(UserError, match="budget"):
        run(str(resume_examples), "tiny", str(tmp_path / "m"), budget_s=-1.0)
