"""One-line progress reports of long steps (epochs of train, trials of search).

A step prints ``progress: <what> n/N <numbers> eta <time>`` on stdout, one line per epoch or
trial, flushed at once. On its own that is a readable log; ``nasdet run`` (``pipelines.progress``)
recognises the prefix and shows the latest line of each running step, updating in place on a
terminal. The format is plain text, so a pod's log in the KFP UI reads the same.
"""

from __future__ import annotations

import math
import sys

PREFIX = "progress: "


def duration(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``1h02m``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def report(what: str, done: int, total: int, numbers: dict, eta_s: float | None, stream=None):
    """Print one progress line: ``progress: what done/total k v ... eta T``."""
    parts = [f"{PREFIX}{what} {done}/{total}"]
    for key, value in numbers.items():
        if isinstance(value, float):
            if not math.isfinite(value):
                continue
            value = f"{value:.4g}"
        parts.append(f"{key} {value}")
    if eta_s is not None:
        parts.append(f"eta {duration(eta_s)}")
    stream = stream or sys.stdout
    stream.write("  ".join(parts) + "\n")
    stream.flush()
