"""How the ingest engine and the Beam running mode are chosen."""

from __future__ import annotations

import pytest

from components.errors import UserError
from components.ingest import running_mode


def test_beam_pays_off_only_with_more_cores_and_images():
    assert running_mode.multi_processing_min_images(1) is None
    assert running_mode.multi_processing_min_images(2) is None  # measured: threads win
    four, eight = (running_mode.multi_processing_min_images(c) for c in (4, 8))
    assert four is not None and eight is not None and four > eight > 0
    # The break-even point: Beam's extra start-up equals the time it saves on the images.
    saved = four * (
        1 / running_mode.IN_PROCESS_IMAGES_PER_S
        - 1 / (4 * running_mode.BEAM_IMAGES_PER_S_PER_WORKER)
    )
    assert running_mode.BEAM_EXTRA_START_S <= saved < running_mode.BEAM_EXTRA_START_S * 1.05
    assert running_mode.multi_processing_min_images(64) == eight  # at most MAX_WORKERS workers


def test_default_runs_in_process():
    mode = running_mode.choose([], 1_000_000, cpus=2)
    assert mode.engine == running_mode.IN_PROCESS and mode.beam_args == []
    assert "2 core(s)" in mode.description
    threshold = running_mode.multi_processing_min_images(8)
    mode = running_mode.choose([], threshold - 1, cpus=8)
    assert mode.engine == running_mode.IN_PROCESS
    assert mode.description == f"in process, no Beam (< {threshold} images on 8 cores)"


def test_large_input_on_many_cores_uses_beam_workers():
    threshold = running_mode.multi_processing_min_images(4)
    mode = running_mode.choose([], threshold, cpus=4)
    assert mode.engine == running_mode.BEAM
    assert "--direct_running_mode=multi_processing" in mode.beam_args
    assert "--direct_num_workers=4" in mode.beam_args
    assert "multi_processing, 4 workers" in mode.description
    mode = running_mode.choose([], 10**6, cpus=64)
    assert f"--direct_num_workers={running_mode.MAX_WORKERS}" in mode.beam_args


def test_any_beam_arg_selects_beam():
    mode = running_mode.choose(["--direct_running_mode=in_memory"], 5, cpus=2)
    assert mode.engine == running_mode.BEAM
    assert mode.description == "DirectRunner in_memory, 1 worker(s) (from --beam-arg)"
    mode = running_mode.choose(["--runner=DirectRunner"], 5, cpus=2)
    assert mode.engine == running_mode.BEAM
    assert "--direct_running_mode=in_memory" in mode.beam_args


def test_forced_engine():
    mode = running_mode.choose([], 10**6, cpus=8, in_process=True)
    assert mode.engine == running_mode.IN_PROCESS
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
