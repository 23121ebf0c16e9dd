"""The Architecture artifact (search writes it; train reads ``architecture.json``).

Files: ``architecture.json`` (a complete detector config, read by
``components.detector.config.load_architecture``), ``hyperparameters.json`` (the KerasTuner
values of the best trial), ``trials.csv`` (every trial: the columns of ``CSV_FIELDS``) and
``report.md`` (with its plot). ``latency_ms`` in ``trials.csv`` is measured, not counted:
the median of the served detection function (NMS included) at batch 1 on the machine that ran
the trial, with ``threads`` its thread count, measured before training; ``max_latency_ms`` is
the search's latency limit (empty: none) and ``over_limit`` is ``yes`` for a trial refused over
it (failed, not trained); ``architecture`` is the trial's network in words; ``repeat`` is 0
for a network's first trial and n for its n-th repeat (a confirmed search trains its leading
networks again: ``components.search.confirm``). A search that
screened also writes ``screening.csv`` (``components.search.screening``: every screened
architecture, its cost, latency and zero-cost scores, and whether it was selected).
Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable

ARCHITECTURE_FILE = "architecture.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
TRIALS_FILE = "trials.csv"
SCREENING_FILE = "screening.csv"  # the search's screening, when it screened (its own columns)
REPORT_FILE = "report.md"
PLOT_FILE = "ap_vs_flops.png"  # AP against FLOPs of every trial, shown in the report
CSV_FIELDS = (
    "trial_id",
    "status",
    "repeat",
    "score",
    "AP",
    "AP50",
    "FLOPs",
    "params",
    "latency_ms",
    "threads",
    "max_latency_ms",
    "over_limit",
    "seconds",
    "architecture",
    "values",
    "error",
)


def write_trials_csv(rows: Iterable, path: str) -> None:
    """Write ``rows`` (objects whose ``csv_row()`` gives the cells) to ``path`` as CSV.

    The columns are ``CSV_FIELDS``.
    """
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row.csv_row())


def write_architecture(out_dir: str, config_json: str, hyperparameters: dict) -> None:
    """Write ``architecture.json`` (config JSON text) and ``hyperparameters.json`` in ``out_dir``."""
    with open(os.path.join(out_dir, ARCHITECTURE_FILE), "w") as f:
        f.write(config_json)
    with open(os.path.join(out_dir, HYPERPARAMETERS_FILE), "w") as f:
        json.dump(hyperparameters, f, indent=2, sort_keys=True)
        f.write("\n")
