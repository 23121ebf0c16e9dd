"""How the ingest engine and the Beam running mode are chosen."""

from __future__ import annotations

import pytest

from components.errors import UserError
from components.ingest import running_mode

THRESHOLD = running_mode.MULTI_PROCESSING_MIN_IMAGES


def test_small_input_runs_in_process_without_beam_args():
    mode = running_mode.choose([], THRESHOLD - 1, cpus=2)
    assert mode.engine == running_mode.IN_PROCESS and mode.beam_args == []
    assert mode.description == f"in process, no Beam (< {THRESHOLD} images)"
    mode = running_mode.choose([], THRESHOLD * 10, cpus=1)
    assert mode.engine == running_mode.IN_PROCESS and "1 core" in mode.description


def test_large_input_uses_beam_on_every_core():
    mode = running_mode.choose([], THRESHOLD, cpus=2)
    assert mode.engine == running_mode.BEAM
    assert "--direct_running_mode=multi_processing" in mode.beam_args
    assert "--direct_num_workers=2" in mode.beam_args
    assert "multi_processing, 2 workers" in mode.description
    mode = running_mode.choose([], THRESHOLD * 10, cpus=64)
    assert f"--direct_num_workers={running_mode.MAX_WORKERS}" in mode.beam_args


def test_any_beam_arg_selects_beam():
    mode = running_mode.choose(["--direct_running_mode=in_memory"], 5, cpus=2)
    assert mode.engine == running_mode.BEAM
    assert mode.description == "DirectRunner in_memory, 1 worker(s) (from --beam-arg)"
    mode = running_mode.choose(["--runner=DirectRunner"], 5, cpus=2)
    assert mode.engine == running_mode.BEAM
    assert "--direct_running_mode=in_memory" in mode.beam_args


def test_forced_engine():
    assert running_mode.choose([], THRESHOLD * 10, cpus=8, in_process=True).engine == "in_process"
    mode = running_mode.choose([], 5, cpus=2, in_process=False)
    assert mode.engine == running_mode.BEAM and "in_memory" in mode.description
    with pytest.raises(UserError, match="--beam-arg"):
        running_mode.choose(["--runner=DirectRunner"], 5, in_process=True)


def test_user_choice_is_kept():
    user = ["--direct_running_mode", "multi_threading", "--direct_num_workers=3"]
    mode = running_mode.choose(user, 5, cpus=2)
    assert mode.beam_args[:3] == user and "--direct_running_mode=in_memory" not in mode.beam_args
    assert "multi_threading, 3 worker(s) (from --beam-arg)" in mode.description
    mode = running_mode.choose(["--runner=FlinkRunner", "--flink_master=host:8081"], 10_000, cpus=8)
    assert mode.beam_args == ["--runner=FlinkRunner", "--flink_master=host:8081"]
    assert mode.description == "FlinkRunner (from --beam-arg)"


def test_unknown_runner_is_a_user_error():
    with pytest.raises(UserError, match="NoSuchRunner"):
        running_mode.choose(["--runner=NoSuchRunner"], 10)
