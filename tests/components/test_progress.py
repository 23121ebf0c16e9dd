"""The steps' progress lines: format, durations, and the epoch reporter."""

from __future__ import annotations

import io

import pytest

from components import progress


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (42.4, "42s"), (185, "3m05s"), (3720, "1h02m"), (float("nan"), "?")],
)
def test_duration(seconds, text):
    assert progress.duration(seconds) == text


def test_a_report_is_one_line_with_its_numbers_and_eta():
    out = io.StringIO()
    progress.report("epoch", 3, 50, {"loss": 0.81234, "val_AP": float("nan")}, 65, out)
    assert out.getvalue() == "progress: epoch 3/50  loss 0.8123  eta 1m05s\n"


def test_the_epoch_reporter_follows_a_moving_plan():
    pytest.importorskip("keras")
    from components.train.epoch_progress import EpochProgress

    out, plan = io.StringIO(), [10]
    reporter = EpochProgress(lambda: plan[0], out)
    for epoch in range(3):
        reporter.on_epoch_begin(epoch)
        reporter.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0, "lr": 0.1})
        plan[0] = 2  # a budget that shrinks the plan below what already ran
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("progress: epoch 1/10  loss 1  val_loss 2  eta ")
    assert lines[2].startswith("progress: epoch 3/3  loss 0.3333  val_loss 2  eta 0s")
    assert "lr" not in out.getvalue()
