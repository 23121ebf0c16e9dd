"""The Architecture artifact's table and report: Pareto front, trial rows, failed trials."""

from __future__ import annotations

import csv
import json
import math

from components.artifacts.architecture import write_trials_csv
from components.search.artifact import TrialRow, best_trial, read_trials
from components.search.report import LABEL_ALL_UP_TO, labelled, pareto_front, write_report


def _row(trial_id, ap, flops, status="COMPLETED", error=""):
    return TrialRow(
        trial_id=trial_id,
        status=status,
        values={"image_size": 64},
        score=ap,
        AP=ap,
        AP50=ap,
        FLOPs=flops,
        params=1000.0,
        seconds=1.0,
        error=error,
    )


def test_pareto_front_keeps_only_undominated_trials():
    rows = [
        _row("0", 0.30, 2e6),
        _row("1", 0.20, 1e6),
        _row("2", 0.25, 3e6),  # dominated by 0
        _row("3", 0.30, 4e6),  # dominated by 0 (same AP, more FLOPs)
        _row("4", math.nan, math.nan, status="FAILED", error="out of memory"),
    ]
    assert [r.trial_id for r in pareto_front(rows)] == ["1", "0"]
    assert best_trial(rows).trial_id == "0"
    assert best_trial([rows[4]]) is None


def test_plot_names_every_trial_of_a_short_search_and_only_the_landmarks_of_a_long_one():
    few = [_row(f"{i:04d}", 0.1 + 0.01 * i, 1e6 * (i + 1)) for i in range(LABEL_ALL_UP_TO)]
    assert labelled(few, pareto_front(few), few[3], ("0000", "tiny")) == few
    # a long search: AP falls as multiply-adds rise, so only trial 0000 is on the front
    many = [_row(f"{i:04d}", 0.5 - 0.01 * i, 1e6 * (i + 1)) for i in range(40)]
    front = pareto_front(many)
    assert [r.trial_id for r in front] == ["0000"]
    names = [r.trial_id for r in labelled(many, front, many[7], ("0003", "tiny"))]
    assert names == ["0000", "0003", "0007"]  # the front, the base preset, the pick
    assert [r.trial_id for r in labelled(many, front, None, None)] == ["0000"]


def test_report_and_csv_list_every_trial(tmp_path):
    rows = [_row("0", 0.3, 2e6), _row("1", math.nan, math.nan, "FAILED", "loss became nan")]
    path = write_report(str(tmp_path), rows, rows[0], {"algorithm": "random"})
    with open(path) as f:
        text = f.read()
    assert "| 0 | COMPLETED | 0.3000 |" in text and "| 1 | FAILED | - |" in text
    assert "- 1: loss became nan" in text and "ap_vs_flops.png" in text
    assert (tmp_path / "ap_vs_flops.png").read_bytes()[:4] == b"\x89PNG"
    write_trials_csv(rows, str(tmp_path / "trials.csv"))
    with open(tmp_path / "trials.csv") as f:
        table = list(csv.DictReader(f))
    assert table[0]["AP"] == "0.3" and table[1]["AP"] == "" and table[1]["status"] == "FAILED"
    assert json.loads(table[0]["values"]) == {"image_size": 64}


def test_trials_are_read_from_the_tuner_project(tmp_path):
    state = {
        "trial_id": "07",
        "status": "COMPLETED",
        "message": None,
        "hyperparameters": {"values": {"num_blocks": 2, "tuner/epochs": 3}},
        "metrics": {
            "metrics": {
                "score": {"direction": "max", "observations": [{"value": [0.5], "step": 0}]},
                "AP": {"direction": None, "observations": [{"value": [0.5], "step": 0}]},
                "FLOPs": {"direction": None, "observations": [{"value": [1e6], "step": 0}]},
            }
        },
    }
    (tmp_path / "trial_07").mkdir()
    (tmp_path / "trial_07" / "trial.json").write_text(json.dumps(state))
    (row,) = read_trials(str(tmp_path))
    assert (row.trial_id, row.status, row.score, row.AP, row.FLOPs) == (
        "07",
        "COMPLETED",
        0.5,
        0.5,
        1e6,
    )
    assert row.values == {"num_blocks": 2}  # tuner bookkeeping is not an architecture choice
    assert math.isnan(row.AP50)


def test_trials_with_a_latency_get_a_second_panel_and_a_threads_note(tmp_path):
    from PIL import Image

    timed = [_row("0", 0.3, 2e6), _row("1", 0.2, 1e6)]
    for row, ms in zip(timed, (12.0, 8.0), strict=True):
        row.latency_ms, row.threads = ms, 2.0
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with open(write_report(str(tmp_path / "a"), timed, timed[0], {})) as f:
        text = f.read()
    assert "| 12.0 |" in text and "(2 threads)" in text and "64 px" in text
    write_report(str(tmp_path / "b"), [_row("0", 0.3, 2e6)], None, {})
    wide = Image.open(tmp_path / "a" / "ap_vs_flops.png").size[0]
    assert wide > Image.open(tmp_path / "b" / "ap_vs_flops.png").size[0]  # AP vs latency beside
