"""Trial rows of a search, read from the tuner project, for the Architecture artifact.

The artifact's files and writers are in :mod:`components.artifacts.architecture`. Trial rows are read from the KerasTuner project on
disk (``trial_*/trial.json``, written by the oracle), so they are the same whether the search
ran in this process, in worker processes or in worker pods.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os

# ARCHITECTURE_FILE, TRIALS_FILE and the writers are used as ``artifact.*`` by the search step.
from components.artifacts.architecture import CSV_FIELDS
from components.search.confirm import network_values, pick_rows, repeat_number
from components.search.tuners import EVENTS_FILE, SCORE

COMPLETED = "COMPLETED"
FAILED = "FAILED"


@dataclasses.dataclass
class TrialRow:
    """One trial of a search: its status, hyperparameter values and measured numbers.

    Numbers are NaN when the trial did not produce them (failed or still running); a trial
    refused over the latency limit has its latency, FLOPs and parameters but no AP.
    ``error`` is the last line of the failure message (empty when none). ``repeat`` is 0 for
    a network's first trial, n for its n-th repeat (``components.search.confirm``).
    """

    trial_id: str
    status: str
    values: dict
    repeat: int = 0
    score: float = math.nan
    AP: float = math.nan
    AP50: float = math.nan
    FLOPs: float = math.nan
    params: float = math.nan
    latency_ms: float = math.nan
    threads: float = math.nan
    seconds: float = math.nan
    error: str = ""
    max_latency_ms: float = math.nan  # the search's latency limit (NaN: none)

    @property
    def over_limit(self) -> bool:
        """Whether the trial was refused over the search's latency limit (it failed untrained:
        ``latency_limit.OverLatencyLimit``). The base preset, which sets the limit, is trained
        even when timed a little over it."""
        return self.status != COMPLETED and self.latency_ms > self.max_latency_ms  # NaN: False

    @property
    def architecture(self) -> str:
        """The trial's network in words, from its hyperparameter values (see ``describe``)."""
        return describe_values(self.values)

    def csv_row(self) -> dict:
        """Return the row as a dict of CSV cells (``values`` as JSON, NaN as an empty cell)."""
        row = {}
        for name in CSV_FIELDS:
            value = getattr(self, name)
            if name == "values":
                value = json.dumps(value, sort_keys=True)
            elif isinstance(value, bool):
                value = "yes" if value else ""
            elif isinstance(value, float):
                value = "" if math.isnan(value) else repr(value)
            row[name] = value
        return row


# (hyperparameter, how it reads) in the order a person describes a detector
_WORDS = (
    ("image_size", "{} px"),
    ("base_width", "width {}"),
    ("num_blocks", "{} normal blocks"),
    ("num_reduce_blocks", "{} reduction blocks"),
    ("cells_per_stage", "{} cells/stage"),
    ("bifpn_width", "BiFPN width {}"),
    ("bifpn_depth", "depth {}"),
    ("head_depth", "head {}"),
    ("learning_rate", "lr {:.3g}"),
)


def describe_values(values: dict) -> str:
    """``"128 px, width 16, 3 normal blocks, ..., BiFPN width 32, depth 2, head 2"``."""
    parts = []
    for key, text in _WORDS:
        if key in values:
            try:
                parts.append(text.format(values[key]))
            except (ValueError, TypeError):
                parts.append(f"{key} {values[key]}")
    return ", ".join(parts)


def _last_value(metrics: dict, name: str) -> float:
    entry = metrics.get(name)
    if not entry or not entry.get("observations"):
        return math.nan
    value = entry["observations"][-1]["value"]
    value = value[-1] if isinstance(value, list) else value
    return float(value)


def _event_seconds(project_dir: str) -> dict[str, float]:
    """Seconds between the last begin and end event of each trial (from events.jsonl)."""
    path = os.path.join(project_dir, EVENTS_FILE)
    begins: dict[str, float] = {}
    seconds: dict[str, float] = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                event = json.loads(line)
                if event["event"] == "begin":
                    begins[event["trial_id"]] = event["time"]
                elif event["trial_id"] in begins:
                    seconds[event["trial_id"]] = event["time"] - begins[event["trial_id"]]
    return seconds


def read_trials(project_dir: str) -> list[TrialRow]:
    """Return every trial of the KerasTuner project in ``project_dir``, ordered by trial id."""
    event_seconds = _event_seconds(project_dir)
    rows = []
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        with open(path) as f:
            state = json.load(f)
        metrics = (state.get("metrics") or {}).get("metrics") or {}
        message = (state.get("message") or "").strip()
        all_values = (state.get("hyperparameters") or {}).get("values") or {}
        values = network_values(all_values)
        row = TrialRow(
            trial_id=str(state["trial_id"]),
            status=str(state.get("status", "")),
            values=values,
            repeat=repeat_number(all_values),
            score=_last_value(metrics, SCORE),
            AP=_last_value(metrics, "AP"),
            AP50=_last_value(metrics, "AP50"),
            FLOPs=_last_value(metrics, "FLOPs"),
            params=_last_value(metrics, "params"),
            latency_ms=_last_value(metrics, "latency_ms"),
            threads=_last_value(metrics, "threads"),
            seconds=_last_value(metrics, "seconds"),
            error=message.splitlines()[-1] if message else "",
        )
        if math.isnan(row.seconds):
            row.seconds = event_seconds.get(row.trial_id, math.nan)
        rows.append(row)
    return rows


def best_trial(rows: list[TrialRow]) -> TrialRow | None:
    """Return the first trial of the picked network, or None when no trial completed.

    The pick is the completed trial with the highest score (the earliest on ties), or, when
    some networks were trained more than once (a confirmed search), the network with the best
    mean score among those (``confirm.pick_rows``).
    """
    picked = pick_rows(rows)
    return picked[0] if picked else None
