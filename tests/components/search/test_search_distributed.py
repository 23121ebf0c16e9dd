"""Distributed search on loopback: a chief oracle and 2 worker processes share the trials."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from components.search import run
from components.search.tuners import read_events


@pytest.mark.slow
def test_chief_and_two_workers_finish_with_distinct_trials(tiny_examples, tmp_path, search_env):
    out = tmp_path / "architecture"
    summary = run(
        tiny_examples, str(out), max_trials=4, workers=2, seed=2, train_images=4, eval_images=2
    )

    result = summary["distributed"]
    assert result["worker_exits"] == [0, 0], result  # the chief's exit status says why
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial_id"] for r in rows] == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert len({r["values"] for r in rows}) == 4  # distinct points of the space
    events = read_events(str(tmp_path / "architecture.work" / "search"))
    ends = [e for e in events if e["event"] == "end"]
    assert Counter(e["trial_id"] for e in ends) == Counter({"0": 1, "1": 1, "2": 1, "3": 1})
    by_worker = Counter(e["tuner_id"] for e in ends)
    assert set(by_worker) == {"worker0", "worker1"}  # both workers ran trials, the chief none
    assert len({e["pid"] for e in ends}) == 2
    assert json.loads((out / "hyperparameters.json").read_text())
