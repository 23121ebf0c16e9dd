"""Latency of a runner at batch 1: the median of timed calls after a warm-up.

Every runner (the SavedModel's ``serving_default`` and the exported formats) is timed the same
way, on the same uint8 image of the serving size, with the same thread count, in the same
process: a latency is a property of the model, the runtime *and* the machine, so only numbers
measured side by side are compared.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np

WARMUP = 3
RUNS = 20


def cpu_threads() -> int:
    """The CPUs this process may run on (the thread count every runtime is given)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def test_image(size: int, seed: int = 0) -> np.ndarray:
    """A seeded random uint8 image [1, size, size, 3]."""
    return np.random.default_rng(seed).integers(0, 256, (1, size, size, 3), dtype=np.uint8)


def measure_ms(
    runners: dict[str, Callable[[np.ndarray], dict]],
    image: np.ndarray,
    runs: int = RUNS,
    warmup: int = WARMUP,
) -> dict[str, dict]:
    """``{name: {"median_ms", "p90_ms", "runs"}}`` of each ``runner(image)``.

    The runners take turns call by call (after ``warmup`` calls each), so a neighbour's load
    on a shared machine falls on all of them alike.
    """
    for runner in runners.values():
        for _ in range(max(warmup, 1)):
            runner(image)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, runner in runners.items():
            started = time.perf_counter()
            runner(image)
            seconds[name].append(time.perf_counter() - started)
    result = {}
    for name, values in seconds.items():
        ordered = sorted(values)
        result[name] = {
            "median_ms": round(1000.0 * statistics.median(ordered), 3),
            "p90_ms": round(1000.0 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
            "runs": runs,
        }
    return result
