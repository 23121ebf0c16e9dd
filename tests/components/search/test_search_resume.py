"""Resume: a search killed after its first finished trial continues; no trial runs twice."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from components.search.cli import main
from components.search.tuners import read_events

TIMEOUT_S = 600


def _wait_for_first_completed_trial(proc: subprocess.Popen, events_dir: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        ended = [
            e for e in read_events(events_dir) if e["event"] == "end" and "COMPLETED" in e["status"]
        ]
        if ended:
            return
        if proc.poll() is not None:
            pytest.fail(f"the search exited ({proc.returncode}) before a trial finished")
        time.sleep(0.2)
    pytest.fail("no trial finished in time")


@pytest.mark.slow
def test_killed_search_resumes_without_rerunning_finished_trials(
    tiny_examples, tmp_path, search_env
):
    out = tmp_path / "architecture"
    args = ["--examples", tiny_examples, "--output", str(out), "--max-trials", "3", "--seed", "5"]
    args += ["--train-images", "4", "--eval-images", "2", "--max-latency-ms", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "components.search", *args],
        env=search_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    events_dir = str(tmp_path / "architecture.work" / "search")
    try:
        _wait_for_first_completed_trial(proc, events_dir)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not out.exists()  # nothing half-written
    first_run = read_events(events_dir)
    finished_before = {
        e["trial_id"] for e in first_run if e["event"] == "end" and "COMPLETED" in e["status"]
    }
    assert finished_before

    assert main(args) == 0  # the same command again

    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    events = read_events(events_dir)
    second_run = events[len(first_run) :]
    assert {e["pid"] for e in second_run} == {os.getpid()}
    begun_again = {e["trial_id"] for e in second_run if e["event"] == "begin"}
    assert not begun_again & finished_before  # finished trials are not run again
    completions = Counter(
        e["trial_id"] for e in events if e["event"] == "end" and "COMPLETED" in e["status"]
    )
    assert completions == Counter({"0": 1, "1": 1, "2": 1})
    values = [r["values"] for r in rows]
    assert len(set(values)) == 3 and all(json.loads(v) for v in values)
