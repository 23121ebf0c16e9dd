"""``python -m components.push.load_check``: load a staged version and replay its warm-up.

Run by the push step in a fresh process (:mod:`components.push.readiness`), so that the
version is loaded from its files alone, as a server would load it, with nothing of the push's
own TensorFlow state: ``tf.saved_model.load`` of the folder, then every request of
``assets.extra/tf_serving_warmup_requests`` through ``serving_default``, each output compared
with the reference outputs in ``--expected`` (an ``.npz`` with ``<request>/<output>`` arrays).
Float outputs must agree within ``--tolerance``; ``detection_classes`` and ``num_detections``
exactly.

Then the first request is timed ``LATENCY_RUNS`` more times: ``latency_ms`` is the median, one
request of one image through ``serving_default`` (NMS included) in this process, with its
TensorFlow thread count (the model card's latency).

Prints one JSON line (``passed``, ``reason``, ``requests``, ``detections``,
``max_abs_diff``, ``load_seconds``, ``replay_seconds``, ``latency_ms``, ``latency_runs``,
``latency_threads``, ``latency_input``, ``pid``); exit status 0 when it passed, 1 when
the version did not load or answered differently, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np

from components.files import join
from components.push import warmup

DEFAULT_TOLERANCE = 1e-5
LATENCY_RUNS = 10
EXACT_OUTPUTS = ("detection_classes", "num_detections")


def one_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters."""
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def read_expected(path: str) -> list[dict[str, np.ndarray]]:
    """The reference outputs of an ``.npz`` written by :func:`write_expected`, per request."""
    with np.load(path) as data:
        by_request: dict[int, dict[str, np.ndarray]] = {}
        for key in data.files:
            index, name = key.split("/", 1)
            by_request.setdefault(int(index), {})[name] = data[key]
    return [by_request[i] for i in sorted(by_request)]


def write_expected(path: str, outputs: list[dict[str, np.ndarray]]) -> None:
    """Write the reference outputs of each request (in order) to the ``.npz`` ``path``."""
    arrays = {f"{i}/{k}": np.asarray(v) for i, out in enumerate(outputs) for k, v in out.items()}
    np.savez(path, **arrays)


def compare(got: dict, expected: dict, tolerance: float) -> tuple[float, str | None]:
    """``(max_abs_diff, problem)`` of one request's outputs; ``problem`` is None when equal."""
    if sorted(got) != sorted(expected):
        return float("inf"), f"outputs {sorted(got)} instead of {sorted(expected)}"
    worst = 0.0
    for name in sorted(expected):
        a, b = np.asarray(got[name]), np.asarray(expected[name])
        if a.shape != b.shape:
            return float("inf"), f"{name} has shape {a.shape} instead of {b.shape}"
        if a.size == 0:
            continue
        diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        worst = max(worst, diff)
        allowed = 0.0 if name in EXACT_OUTPUTS else tolerance
        if not diff <= allowed:  # NaN fails too
            return worst, f"{name} differs by {diff:.3g} (allowed {allowed:g})"
    return worst, None


def check(saved_model_dir: str, expected: list[dict], tolerance: float) -> dict:
    """Load the SavedModel at ``saved_model_dir``, replay its warm-up requests, compare."""
    import tensorflow as tf

    result = {"passed": False, "reason": None, "requests": 0, "detections": 0}
    start = time.perf_counter()
    try:
        serve = tf.saved_model.load(saved_model_dir).signatures[warmup.SIGNATURE]
    except Exception as err:  # noqa: BLE001 - any load failure refuses the version
        result["reason"] = f"cannot load the SavedModel: {type(err).__name__}: {one_line(err)}"
        return result
    result["load_seconds"] = round(time.perf_counter() - start, 3)
    try:
        requests = warmup.read_requests(join(saved_model_dir, warmup.WARMUP_PATH))
    except Exception as err:  # noqa: BLE001 - unreadable warm-up file
        result["reason"] = f"cannot read {warmup.WARMUP_PATH}: {one_line(err)}"
        return result
    if len(requests) != len(expected):
        result["reason"] = f"{len(requests)} warm-up requests, {len(expected)} expected"
        return result
    start = time.perf_counter()
    worst = 0.0
    for index, (inputs, reference) in enumerate(zip(requests, expected, strict=True)):
        try:
            outputs = serve(**{k: tf.constant(v) for k, v in inputs.items()})
        except Exception as err:  # noqa: BLE001 - a request the version cannot answer
            result["reason"] = f"warm-up request {index + 1} failed: {one_line(err)}"
            return result
        got = {k: v.numpy() for k, v in outputs.items()}
        diff, problem = compare(got, reference, tolerance)
        worst = max(worst, diff)
        if problem:
            result["reason"] = f"warm-up request {index + 1}: {problem}"
            result["max_abs_diff"] = worst
            return result
        result["requests"] += 1
        if "num_detections" in got:
            result["detections"] += int(np.sum(got["num_detections"]))
    result.update(
        passed=True,
        max_abs_diff=worst,
        replay_seconds=round(time.perf_counter() - start, 3),
    )
    result.update(_latency(serve, requests[0]))
    return result


def _latency(serve, inputs: dict) -> dict:
    """Median milliseconds of ``LATENCY_RUNS`` calls of ``serve`` on one warm-up request."""
    import tensorflow as tf

    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    times = []
    for _ in range(LATENCY_RUNS):
        start = time.perf_counter()
        serve(**tensors)
        times.append((time.perf_counter() - start) * 1000)
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    return {
        "latency_ms": round(statistics.median(times), 3),
        "latency_runs": LATENCY_RUNS,
        "latency_threads": threads,
        "latency_input": {k: list(np.shape(v)) for k, v in inputs.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m components.push.load_check",
        description="Load a SavedModel, replay its TF Serving warm-up requests and compare the "
        "outputs with reference outputs.",
    )
    parser.add_argument("--saved-model", required=True, help="a local SavedModel folder")
    parser.add_argument("--expected", required=True, help=".npz of the reference outputs")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = check(args.saved_model, read_expected(args.expected), args.tolerance)
    result["tolerance"] = args.tolerance
    result["pid"] = os.getpid()
    print(json.dumps(result), flush=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
