"""How the Beam running mode is chosen."""

from __future__ import annotations

import pytest

from components.errors import UserError
from components.ingest import running_mode

THRESHOLD = running_mode.MULTI_PROCESSING_MIN_IMAGES


def test_small_input_runs_in_memory():
    args, line = running_mode.choose([], THRESHOLD - 1, cpus=2)
    assert "--direct_running_mode=in_memory" in args
    assert "in_memory" in line and "images" in line


def test_large_input_uses_every_core():
    args, line = running_mode.choose([], THRESHOLD, cpus=2)
    assert "--direct_running_mode=multi_processing" in args and "--direct_num_workers=2" in args
    assert "multi_processing, 2 workers" in line
    args, _ = running_mode.choose([], THRESHOLD * 10, cpus=64)
    assert f"--direct_num_workers={running_mode.MAX_WORKERS}" in args
    args, _ = running_mode.choose([], THRESHOLD * 10, cpus=1)
    assert "--direct_running_mode=in_memory" in args


def test_user_choice_is_kept():
    user = ["--direct_running_mode", "multi_threading", "--direct_num_workers=3"]
    args, line = running_mode.choose(user, 5, cpus=2)
    assert args[:3] == user and "--direct_running_mode=in_memory" not in args
    assert "multi_threading, 3 worker(s) (from --beam-arg)" in line
    args, line = running_mode.choose(
        ["--runner=FlinkRunner", "--flink_master=host:8081"], 10_000, cpus=8
    )
    assert args == ["--runner=FlinkRunner", "--flink_master=host:8081"]
    assert line == "FlinkRunner (from --beam-arg)"


def test_unknown_runner_is_a_user_error():
    with pytest.raises(UserError, match="NoSuchRunner"):
        running_mode.choose(["--runner=NoSuchRunner"], 10)
