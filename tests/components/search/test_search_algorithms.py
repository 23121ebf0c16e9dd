"""Hyperband and Bayesian optimisation searches complete (tiny trials)."""

from __future__ import annotations

import csv
import json

import pytest

from components.search import run


def _rows(out) -> list[dict]:
    with open(out / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_hyperband_search_completes_and_continues_the_best_trial(
    tiny_examples, tmp_path, tight_space
):
    # max_epochs 3, factor 3: three 1-epoch trials, then the best one continues to 3 epochs
    # from its checkpoint (which needs the tuner's callbacks in HyperModel.fit).
    out = tmp_path / "hyperband"
    summary = run(
        tiny_examples,
        str(out),
        algorithm="hyperband",
        max_trials=4,
        epochs=3,
        seed=4,
        space=tight_space,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,  # no latency limit: every trial trains (not this test's subject)
    )
    rows = _rows(out)
    assert len(rows) == 4 and all(r["status"] == "COMPLETED" for r in rows)
    state = json.loads(
        (tmp_path / "hyperband.work" / "search" / "trial_3" / "trial.json").read_text()
    )
    continued = state["hyperparameters"]["values"]
    assert continued["tuner/epochs"] == 3 and continued["tuner/initial_epoch"] == 1
    assert continued["tuner/trial_id"] in {"0", "1", "2"}
    assert summary["best_trial"] in {r["trial_id"] for r in rows}
    assert (out / "architecture.json").exists()


@pytest.mark.slow
def test_bayesian_search_completes(tiny_examples, tmp_path, tight_space):
    out = tmp_path / "bayesian"
    summary = run(
        tiny_examples,
        str(out),
        algorithm="bayesian",
        max_trials=3,
        epochs=1,
        seed=6,
        space=tight_space,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,  # no latency limit: every trial trains (not this test's subject)
    )
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["COMPLETED"] * 3
    assert len({r["values"] for r in rows}) == 3
    assert summary["trials"] == 3 and (out / "report.md").exists()
