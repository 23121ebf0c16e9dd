"""Measured serving latency: the exported detection function, batch 1, median after warm-up."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from components.detector import latency  # noqa: E402
from components.detector.config_load import get_preset  # noqa: E402
from components.detector.model import build_detector  # noqa: E402


def test_latency_of_the_served_function_and_its_threads(monkeypatch):
    config = get_preset("tiny").with_overrides({"num_classes": 2})
    calls = []
    real = latency.time.perf_counter

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(latency.time, "perf_counter", counting)
    result = latency.measure_ms(build_detector(config), config, runs=5, warmup=1)
    assert len(calls) == 10  # two clock reads per timed run, none for the warm-up
    assert 0 < result["median_ms"] <= result["p90_ms"] < 10_000
    assert result["runs"] == 5 and result["threads"] >= 1


def test_threads_reports_the_environment_setting_tensorflow_started_with(monkeypatch):
    """A process that limits TensorFlow with ``TF_NUM_INTRAOP_THREADS`` alone (as the
    benchmarks do) records that count with its latencies, not the CPUs it may run on."""
    import tensorflow as tf

    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 0)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert latency.threads() == 1
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "not a number")
    assert latency.threads() == len(latency.os.sched_getaffinity(0))
    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 3)
    assert latency.threads() == 3
