"""Distributed search on loopback: a chief oracle and 2 worker processes share the trials; a
worker killed during a trial has that trial reported, and the other worker finishes."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from collections import Counter

import pytest

from components.search import run
from components.search.tuners import read_events


@pytest.mark.slow
def test_chief_and_two_workers_finish_with_distinct_trials(tiny_examples, tmp_path, search_env):
    out = tmp_path / "architecture"
    summary = run(
        tiny_examples,
        str(out),
        max_trials=4,
        workers=2,
        seed=2,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,  # no latency limit: every trial trains
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


def _kill_first_trial_of(project: str, tuner_id: str, stop: threading.Event, killed: list):
    """Kill ``tuner_id``'s process (SIGKILL, as a preempted pod) once it begins a trial."""
    while not stop.is_set():
        for event in read_events(project):
            if event["event"] == "begin" and event["tuner_id"] == tuner_id:
                os.kill(event["pid"], signal.SIGKILL)
                killed.append(event["trial_id"])
                return
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_workers_trial_is_reported_and_the_other_worker_finishes(
    tiny_examples, tmp_path, search_env
):
    out = tmp_path / "architecture"
    project = str(tmp_path / "architecture.work" / "search")
    stop, killed = threading.Event(), []
    watcher = threading.Thread(
        target=_kill_first_trial_of, args=(project, "worker0", stop, killed), daemon=True
    )
    watcher.start()
    try:
        summary = run(
            tiny_examples,
            str(out),
            max_trials=3,
            workers=2,
            seed=2,
            train_images=4,
            eval_images=2,
            max_latency_ms=0.0,  # no latency limit: every trial trains
        )
    finally:
        stop.set()
        watcher.join()
    assert len(killed) == 1
    assert summary["distributed"]["worker_exits"] == [-signal.SIGKILL, 0]
    with open(out / "trials.csv") as f:
        rows = {r["trial_id"]: r for r in csv.DictReader(f)}
    assert len(rows) == 3
    lost = rows[killed[0]]
    assert lost["status"] == "FAILED"
    assert "interrupted: worker0 stopped before the trial ended (exit status -9)" in lost["error"]
    others = [r for trial, r in rows.items() if trial != killed[0]]
    assert others and all(r["status"] == "COMPLETED" for r in others)
    ends = [e for e in read_events(project) if e["event"] == "end"]
    assert {e["tuner_id"] for e in ends} == {"worker1"}
    assert summary["status_counts"] == {"COMPLETED": 2, "FAILED": 1}
