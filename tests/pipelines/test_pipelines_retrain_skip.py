"""A retraining on unchanged data stops after ingest: the whole pipeline run again with kfp.local
on the same data and settings, plainly and ``--isolated`` (slow)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SETTINGS = ["search_max_trials=1", "search_epochs=1", "search_screen=0", "train_epochs=1"]
SETTINGS += ["min_ap=0"]


def _snapshot(root: pathlib.Path) -> pathlib.Path:
    """A copy of the code the runs execute. The code's digest is part of what the check
    compares, and the checkout may be edited while the test runs; both runs use the copy."""
    for package in ("components", "pipelines"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


def _run(code: pathlib.Path, work: pathlib.Path, data: pathlib.Path, *extra: str):
    argv = [sys.executable, "-m", "pipelines.cli", "run", "--work-dir", str(work)]
    argv += ["--data", str(data / "annotations")]  # 50 images: the smallest pipeline run
    for setting in (*SETTINGS, *extra):
        argv += ["--set", setting]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # Run from the copy: `python -m` (here and in kfp.local's tasks) imports from the cwd first.
    return subprocess.run(argv, cwd=code, capture_output=True, text=True, timeout=1500, env=env)


def _changes(run: pathlib.Path) -> dict:
    return json.loads((run / "check-changes" / "changes" / "changes.json").read_text())


@pytest.mark.slow
def test_a_second_run_on_unchanged_data_skips_search_and_train(tmp_path, sample_dir):
    code = _snapshot(tmp_path / "code")
    work = tmp_path / "work"
    model_root = work / "serving" / "nasdet"

    first = _run(code, work, sample_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert re.search(r"^  changes +Nothing is pushed yet", first.stdout, re.M), first.stdout
    assert re.search(r"\] push-model: SUCCESS", first.stdout), first.stdout
    (run1,) = sorted((work / "pipeline_root").iterdir())
    assert str(run1.resolve()).startswith(str(tmp_path))
    # The version records what it was trained from: this run's check.
    record = json.loads((model_root / "1" / "push.json").read_text())
    assert record["trained_on"] == _changes(run1)["trained_on"]
    assert record["trained_on"]["parameters"]["search_max_trials"] == 1

    second = _run(code, work, sample_dir)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    out = second.stdout
    assert re.search(r"\] ingest-examples: SUCCESS", out), out  # the data is ingested again
    assert re.search(r"\] check-changes: SUCCESS", out), out
    for task in ("search-architecture", "train-model", "evaluate-model", "push-model"):
        assert f"{task}: running" not in out, out
    assert (
        "] search-architecture, train-model, evaluate-model, push-model: skipped "
        "(check-changes: nothing changed since production)" in out
    )
    assert re.search(r"^nasdet run stopped early after check-changes in \d+m\d\ds: ", out, re.M)
    assert re.search(
        r"^  changes +Nothing changed since the production version 1 \(.*/serving/nasdet/1\): "
        r"the same Examples \(content digest\), code and model parameters\. .*set force=true",
        out,
        re.M,
    ), out
    assert f"  production    version 1 -> {model_root / '1'}" in out
    run2 = sorted((work / "pipeline_root").iterdir())[1]
    assert sorted(p.name for p in run2.iterdir()) == ["check-changes", "ingest-examples"]
    decision = _changes(run2)
    assert decision["proceed"] is False and decision["changed"] == []
    assert decision["trained_on"] == record["trained_on"]  # ingested again, the same content
    report = (run2 / "check-changes" / "report").read_text()
    assert "**Retrain: no: the run stops after ingest.**" in report
    assert sorted(p.name for p in model_root.iterdir() if p.name.isdigit()) == ["1"]

    # force=true: the same inputs are retrained (and judged against version 1).
    third = _run(code, work, sample_dir, "force=true")
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert re.search(r"\] search-architecture: SUCCESS", third.stdout), third.stdout
    assert re.search(r"\] train-model: SUCCESS", third.stdout), third.stdout
    assert re.search(r"^  changes +Nothing changed since .* but force is set", third.stdout, re.M)
    run3 = sorted((work / "pipeline_root").iterdir())[2]
    assert _changes(run3)["proceed"] is True and _changes(run3)["forced"] is True


@pytest.mark.slow
def test_isolated_the_check_reads_production_from_the_serving_volume(tmp_path):
    """The same with ``--isolated`` (each task as its pod sees it): the check step finds
    production on the serving volume it mounts, and the summary names both paths."""
    code = _snapshot(tmp_path / "code")
    work = tmp_path / "work"
    argv = [sys.executable, "-m", "pipelines.cli", "run", "--isolated", "--work-dir", str(work)]
    for setting in ("architecture=tiny", "train_epochs=1", "min_ap=0"):
        argv += ["--set", setting]  # the bundled sample, no search: the shortest isolated run
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    runs = []
    for _ in range(2):
        runs.append(
            subprocess.run(argv, cwd=code, capture_output=True, text=True, timeout=1500, env=env)
        )
        assert runs[-1].returncode == 0, runs[-1].stdout[-3000:] + runs[-1].stderr[-3000:]
    first, second = (r.stdout for r in runs)
    assert re.search(r"\] push-model: SUCCESS", first), first
    model_root = work / "volumes" / "nasdet-serving" / "nasdet"
    assert "train-model: running" not in second and "push-model: running" not in second
    assert re.search(r"^nasdet run stopped early after check-changes ", second, re.M), second
    assert (
        "  changes       Nothing changed since the production version 1 (/mnt/serving/nasdet/1)"
        in second
    )
    assert (
        f"  production    version 1 -> {model_root / '1'} (/mnt/serving/nasdet/1 in the pods)"
        in (second)
    )
    assert sorted(p.name for p in model_root.iterdir() if p.name.isdigit()) == ["1"]
