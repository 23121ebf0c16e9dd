"""Measured latency of a detector the way it is served.

The ``serving_default`` function of the export (resize and pad, the network, box decoding,
NMS, boxes mapped back to the image: ``export.make_serving_functions``) runs on one uint8
image of the serving size, batch 1: ``warmup`` calls first (tracing included), then the median
of ``runs`` timed calls. The thread count is recorded with it: a latency is a property of the
model *and* the machine.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

WARMUP = 3
RUNS = 20


def threads() -> int:
    """The intra-op threads TensorFlow uses: its setting, else ``TF_NUM_INTRAOP_THREADS`` (read
    by TensorFlow when it starts, not reflected in its setting), else the CPUs it may run on."""
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured:
        return int(configured)
    from_env = os.environ.get("TF_NUM_INTRAOP_THREADS", "").strip()
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def measure_ms(detector, config, runs: int = RUNS, warmup: int = WARMUP, seed: int = 0) -> dict:
    """``{"median_ms", "p90_ms", "runs", "threads"}`` of ``serving_default`` at batch 1.

    ``detector`` is the Keras detector of ``config`` (its current weights are used).
    """
    import tensorflow as tf

    from components.detector.export import make_serving_functions

    serve = make_serving_functions(detector, config)["serving_default"]
    size = int(config.image_size)
    image = np.random.default_rng(seed).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    images = tf.constant(image)
    for _ in range(max(warmup, 1)):
        serve(images)["num_detections"].numpy()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        serve(images)["num_detections"].numpy()
        seconds.append(time.perf_counter() - started)
    ordered = sorted(seconds)
    return {
        "median_ms": 1000.0 * statistics.median(ordered),
        "p90_ms": 1000.0 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "runs": runs,
        "threads": threads(),
    }


def serving_call(detector, config, seed: int = 0):
    """``(serve, images)``: ``serving_default`` of ``detector`` and one uint8 image of the
    serving size, batch 1 (what ``measure_ms`` times)."""
    import tensorflow as tf

    from components.detector.export import make_serving_functions

    serve = make_serving_functions(detector, config)["serving_default"]
    size = int(config.image_size)
    image = np.random.default_rng(seed).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    return serve, tf.constant(image)


def measure_paired_ms(
    detector, config, reference, reference_ms: float, runs: int = RUNS, seed: int = 0
) -> dict:
    """The latency of ``detector`` relative to a reference, timed in alternation.

    ``reference`` is the reference's ``serving_call`` and ``reference_ms`` its latency
    measured earlier (``measure_ms``). Each of ``runs`` rounds
    times one call of each, in alternating order; the median of the per-round ratios times
    ``reference_ms`` is the latency. On a shared machine whose load drifts, two separate
    medians of the same network differ by tens of percent; the ratio of calls made side by
    side is what tells whether a candidate is faster than the reference.
    """
    calls = {"c": serving_call(detector, config, seed), "r": reference}
    for _ in range(max(WARMUP, 1)):
        for serve, images in calls.values():
            serve(images)["num_detections"].numpy()
    ratios, seconds = [], []
    for i in range(runs):
        pair = {}
        for name in ("c", "r") if i % 2 == 0 else ("r", "c"):
            serve, images = calls[name]
            started = time.perf_counter()
            serve(images)["num_detections"].numpy()
            pair[name] = time.perf_counter() - started
        ratios.append(pair["c"] / pair["r"])
        seconds.append(pair["c"])
    ratio = statistics.median(ratios)
    return {
        "median_ms": ratio * reference_ms,
        "ratio": ratio,
        "own_median_ms": 1000.0 * statistics.median(seconds),
        "runs": runs,
        "threads": threads(),
    }
