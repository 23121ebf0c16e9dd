"""The search's time budget: no trial starts once it is spent, and a resume continues it."""

from __future__ import annotations

import json
import os

import keras_tuner
import pytest

from components.search import run, time_budget
from components.search.cli import main
from components.search.tuners import ScreenedRandomOracle


def _oracle(directory: str, budget_s: float, screening_s: float, max_trials: int = 50):
    oracle = ScreenedRandomOracle(
        objective=keras_tuner.Objective("score", direction="max"), max_trials=max_trials, seed=3
    )
    oracle._set_project_dir(directory, "search")
    hp = keras_tuner.HyperParameters()
    hp.Int("width", 8, 512, step=8)
    oracle.update_space(hp)
    oracle.start_clock(budget_s, screening_s)
    return oracle


def _run_trial(oracle, clock, seconds: float) -> str:
    trial = oracle.create_trial("tuner0")
    status = trial.status
    if status == "RUNNING":
        clock.now += seconds
        oracle.update_trial(trial.trial_id, {"score": 1.0})
        trial.status = "COMPLETED"  # as the tuner sets it
        oracle.end_trial(trial)
        oracle.save()  # as the tuner does after each trial
    return status


def test_no_trial_starts_once_the_screening_and_trials_spent_the_budget(tmp_path, clock):
    oracle = _oracle(str(tmp_path), budget_s=100, screening_s=30)
    assert [_run_trial(oracle, clock, 20) for _ in range(3)] == ["RUNNING"] * 3
    assert oracle.spent_s() == pytest.approx(90)
    assert _run_trial(oracle, clock, 20) == "RUNNING"  # 90 s spent: 10 s left, it starts
    assert _run_trial(oracle, clock, 20) == "STOPPED"  # 110 s spent
    assert len(oracle.trials) == 4


def test_the_first_trial_runs_even_when_the_screening_spent_the_budget(tmp_path, clock):
    oracle = _oracle(str(tmp_path), budget_s=10, screening_s=60)
    assert _run_trial(oracle, clock, 5) == "RUNNING"  # the base preset: the reference
    assert _run_trial(oracle, clock, 5) == "STOPPED"


def test_no_budget_and_max_trials_still_cap(tmp_path, clock):
    unlimited = _oracle(str(tmp_path / "a"), budget_s=0, screening_s=0, max_trials=3)
    assert [_run_trial(unlimited, clock, 1e6) for _ in range(4)] == ["RUNNING"] * 3 + ["STOPPED"]
    capped = _oracle(str(tmp_path / "b"), budget_s=1e9, screening_s=0, max_trials=2)
    assert [_run_trial(capped, clock, 1) for _ in range(3)] == ["RUNNING"] * 2 + ["STOPPED"]


def test_a_resumed_search_continues_the_budget_of_the_earlier_runs(tmp_path, clock):
    first = _oracle(str(tmp_path), budget_s=100, screening_s=30)
    assert [_run_trial(first, clock, 25) for _ in range(2)] == ["RUNNING"] * 2  # 80 s
    with open(os.path.join(tmp_path, "search", "oracle.json")) as f:
        assert json.load(f)[time_budget.STATE_KEY] == pytest.approx(80)

    clock.now += 3600  # the pod was down for an hour: not the search's time
    resumed = _oracle(str(tmp_path), budget_s=100, screening_s=30)  # the screening is kept
    resumed.reload()
    assert resumed.spent_s() == pytest.approx(80)  # not 30: the screening counts once
    assert _run_trial(resumed, clock, 25) == "RUNNING"
    assert _run_trial(resumed, clock, 25) == "STOPPED"
    assert len(resumed.trials) == 3

    again = _oracle(str(tmp_path), budget_s=200, screening_s=30)  # a larger budget: goes on
    again.reload()
    assert _run_trial(again, clock, 25) == "RUNNING"


def test_bad_budget_is_one_line_and_exit_2(tiny_examples, tmp_path, capsys):
    args = ["--examples", tiny_examples, "--output", str(tmp_path / "o"), "--budget-s", "-5"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--budget-s" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_spent_budget_ends_the_search_with_the_reference_trial(
    tiny_examples, tmp_path, tight_space, capsys
):
    out = tmp_path / "architecture"
    summary = run(
        tiny_examples,
        str(out),
        algorithm="random",
        max_trials=5,
        epochs=1,
        seed=1,
        space=tight_space,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,
        budget_s=0.001,
    )
    assert summary["trials"] == 1 and summary["trials_run"] == 1
    assert os.path.exists(summary["architecture"])
    report = (out / "report.md").read_text()
    assert "time budget" in report and "0.001 s" in report
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("progress:")]
    assert [line.split("  ")[0] for line in lines] == ["progress: trial 1/1"]  # not 1/5


def test_bayesian_with_a_budget_starts_modelling_after_a_few_points(tiny_examples, tmp_path):
    from components.search.search_loop import make_hypermodel
    from components.search.tuners import BAYESIAN_INITIAL_WITH_BUDGET, SearchSpec, make_tuner

    def initial_points(name: str, budget_s: float) -> int:
        spec = SearchSpec(
            examples_dir=tiny_examples,
            directory=str(tmp_path / name),
            algorithm="bayesian",
            max_trials=600,
            budget_s=budget_s,
        )
        return make_tuner(spec, make_hypermodel(spec)).oracle.num_initial_points

    # max_trials is only a cap with a budget: a third of it would leave the search random.
    assert initial_points("budget", 1800) == BAYESIAN_INITIAL_WITH_BUDGET
    assert initial_points("trials", 0) == 200
