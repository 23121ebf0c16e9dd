"""Confirming the leaders: the end of a time budget trains the best networks again, and the
pick is the best mean of the networks trained twice."""

from __future__ import annotations

import os

import keras_tuner
import pytest

from components.artifacts.architecture import write_trials_csv
from components.search import artifact, confirm
from components.search.tuners import ScreenedBayesianOracle, ScreenedRandomOracle


def _oracle(directory, budget_s: float, leaders: int, kind=ScreenedRandomOracle):
    oracle = kind(objective=keras_tuner.Objective("score", direction="max"), max_trials=50, seed=3)
    oracle._set_project_dir(str(directory), "search")
    hp = keras_tuner.HyperParameters()
    hp.Int("width", 8, 512, step=8)
    oracle.update_space(hp)
    oracle.start_clock(budget_s, 0.0)
    oracle.confirm = leaders
    return oracle


def _start(oracle, tuner: str = "tuner0"):
    return oracle.create_trial(tuner)


def _finish(oracle, trial, clock, score: float, seconds: float = 100.0) -> None:
    clock.now += seconds
    oracle.update_trial(trial.trial_id, {"score": score, "seconds": seconds})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    oracle.save()


def _run(oracle, clock, score: float, seconds: float = 100.0):
    trial = _start(oracle)
    if trial.status == "RUNNING":
        _finish(oracle, trial, clock, score, seconds)
    return trial


def _width(trial) -> int:
    return trial.hyperparameters.values["width"]


def test_the_end_of_the_budget_repeats_the_leaders_best_first(tmp_path, clock):
    oracle = _oracle(tmp_path, budget_s=900, leaders=2)
    first = [_run(oracle, clock, score) for score in (0.1, 0.5, 0.3, 0.2)]  # 400 s spent
    assert all(confirm.repeat_number(t.hyperparameters.values) == 0 for t in first)
    new = _run(oracle, clock, 0.05)  # 500 s left, two repeats need 200: a new network
    assert _width(new) not in {_width(t) for t in first}
    assert confirm.repeat_number(new.hyperparameters.values) == 0
    _run(oracle, clock, 0.05)
    _run(oracle, clock, 0.05)  # started with 300 s left: still more than the repeats need
    repeat = _run(oracle, clock, 0.4)  # 700 s spent: 200 s left, the two repeats
    assert _width(repeat) == _width(first[1])  # the best network first
    assert confirm.repeat_number(repeat.hyperparameters.values) == 1
    second = _run(oracle, clock, 0.35)
    assert _width(second) == _width(first[2])  # then the next of the leaders
    assert _run(oracle, clock, 0.0).status == "STOPPED"  # the budget is spent

    rows = artifact.read_trials(oracle._project_dir)
    assert [r.repeat for r in rows].count(1) == 2
    # network 0.5 / 0.4 (mean 0.45) against 0.3 / 0.35: the first; a single trial is no pick
    assert artifact.best_trial(rows).trial_id == first[1].trial_id


def test_a_repeat_once_the_leader_changes_and_none_of_a_running_network(tmp_path, clock):
    oracle = _oracle(tmp_path, budget_s=500, leaders=1)
    for score in (0.3, 0.2, 0.1, 0.4):
        _run(oracle, clock, score)  # 400 s spent, 100 left: repeat the best (0.4, trial 3)
    _run(oracle, clock, 0.1, seconds=10)
    trials = list(oracle.trials.values())
    assert confirm.repeat_number(trials[4].hyperparameters.values) == 1
    assert _width(trials[4]) == _width(trials[3])
    # its mean fell to 0.25: network 0.3 leads, once trained: it is repeated
    running = _start(oracle, "tuner0")
    assert _width(running) == _width(trials[0])
    other = _start(oracle, "tuner1")  # a second worker: not the same network again
    assert confirm.repeat_number(other.hyperparameters.values) == 0
    assert _width(other) != _width(running)


@pytest.mark.parametrize("budget_s, leaders", [(0, 2), (1000, 0)])
def test_no_repeats_without_a_budget_or_leaders_to_confirm(tmp_path, clock, budget_s, leaders):
    oracle = _oracle(tmp_path, budget_s=budget_s, leaders=leaders)
    trials = [_run(oracle, clock, s) for s in (0.3, 0.2, 0.1, 0.4, 0.5, 0.6, 0.2, 0.1, 0.3)]
    trials = [t for t in trials if t.status == "RUNNING" or t.status == "COMPLETED"]
    assert len({_width(t) for t in trials}) == len(trials)
    rows = artifact.read_trials(oracle._project_dir)
    assert artifact.best_trial(rows).score == max(r.score for r in rows)


def test_bayesian_optimisation_confirms_and_keeps_proposing(tmp_path, clock):
    oracle = _oracle(tmp_path, budget_s=500, leaders=1, kind=ScreenedBayesianOracle)
    for score in (0.3, 0.2, 0.5, 0.1):
        _run(oracle, clock, score)
    repeat = _run(oracle, clock, 0.45)  # 100 s left: the repeat of 0.5
    assert confirm.repeat_number(repeat.hyperparameters.values) == 1
    assert _width(repeat) == _width(list(oracle.trials.values())[2])


def _row(trial_id: str, width: int, score: float, status: str = "COMPLETED"):
    return artifact.TrialRow(trial_id, status, {"width": width}, score=score)


def test_pick_is_the_best_mean_of_the_confirmed_networks():
    rows = [
        _row("0", 8, 0.30),
        _row("1", 16, 0.50),
        _row("2", 24, 0.90),  # lucky, never repeated
        _row("3", 16, 0.20),  # 16: mean 0.35
        _row("4", 8, 0.45),  # 8: mean 0.375
        _row("5", 32, float("nan"), "FAILED"),
    ]
    assert [r.trial_id for r in confirm.pick_rows(rows)] == ["0", "4"]
    assert artifact.best_trial(rows).trial_id == "0"
    assert artifact.best_trial(rows[:3]).trial_id == "2"  # nothing repeated: the best trial
    tie = [_row("0", 8, 0.3), _row("1", 16, 0.3)]
    assert artifact.best_trial(tie).trial_id == "0"  # ties: the network trained first
    assert artifact.best_trial([rows[5]]) is None


def test_leaders_rank_by_mean():
    ranked = confirm.leaders([("a", 0.5), ("b", 0.4), ("a", 0.1), ("c", 0.35)], 2)
    assert ranked == [("b", 0.4, 1), ("c", 0.35, 1)]


def test_trials_csv_names_the_repeat(tmp_path, clock):
    oracle = _oracle(tmp_path, budget_s=250, leaders=1)
    _run(oracle, clock, 0.3)
    _run(oracle, clock, 0.2)
    _run(oracle, clock, 0.1)  # the repeat of 0.3
    rows = artifact.read_trials(oracle._project_dir)
    path = os.path.join(tmp_path, "trials.csv")
    write_trials_csv(rows, path)
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0].split(",")[:3] == ["trial_id", "status", "repeat"]
    assert [line.split(",")[2] for line in lines[1:]] == ["0", "0", "1"]


def test_a_repeat_trains_with_its_own_initialisation_and_data_order(tiny_examples, tight_space):
    import keras
    import numpy as np

    from components.search.hypermodel import DetectorHyperModel
    from components.search.space import get_space

    model = DetectorHyperModel(get_space(tight_space), tiny_examples, 1, 8, 1, seed=4)

    def trained_as(repeat: int):
        hp = keras_tuner.HyperParameters()
        model.declare_hyperparameters(hp)
        if repeat:
            hp.values[confirm.REPEAT_KEY] = repeat
        keras.utils.set_random_seed(99)  # the same global state: only the repeat differs
        weights = model.build(hp).detector.get_weights()
        images, _ = next(iter(model.train_dataset(model.config(hp), model.trial_seed(hp))))
        return weights, images.numpy()

    def same(a, b) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    first, first_images = trained_as(0)
    repeat, repeat_images = trained_as(1)
    again, again_images = trained_as(1)
    assert same(repeat, again) and np.array_equal(repeat_images, again_images)  # reproducible
    assert not same(first, repeat)  # another initialisation
    assert not np.array_equal(first_images, repeat_images)  # another order or augmentation
