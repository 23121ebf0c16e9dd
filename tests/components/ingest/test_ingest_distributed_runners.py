"""The ingest graph on distributed Beam runners that work offline: Dask and the portable runner.

Both are remote runners: their workers write under ``--temp_location`` and the step copies the
files into the Examples artifact. Every file must equal the in-process engine's byte for byte,
including the quarantine of a corpus with every kind of bad input.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from components.errors import UserError
from components.ingest import run

DASK_RUNNER = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"


def _ingest_both(corpus, tmp_path, beam_args, files) -> tuple[dict, dict, dict]:
    """Ingest ``corpus`` in process and with ``beam_args``; return both artifacts' files and the
    remote run's summary."""
    common = dict(images_dir=corpus.images_dir, classes_file=corpus.classes_file)
    run(corpus.input_path, corpus.fmt, str(tmp_path / "in_process"), **common)
    summary = run(
        corpus.input_path, corpus.fmt, str(tmp_path / "remote"), beam_args=beam_args, **common
    )
    return files(tmp_path / "in_process"), files(tmp_path / "remote"), summary


def _assert_identical(expected: dict, got: dict) -> None:
    assert sorted(got) == sorted(expected)
    assert any(name.endswith(".gz") for name in expected)
    assert expected["quarantine.jsonl"]  # the corpus has bad input: the quarantine is not empty
    for name, data in expected.items():
        assert got[name] == data, name


@pytest.fixture
def voc_corpus(broken_corpus, tmp_path):
    return broken_corpus.make_voc_corpus(tmp_path / "corpus")


def test_dask_runner_two_worker_processes_byte_identical(voc_corpus, tmp_path, helpers):
    distributed = pytest.importorskip("dask.distributed")
    staging = tmp_path / "shared"
    staging.mkdir()
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        args = [
            DASK_RUNNER,
            f"--dask_client_address={cluster.scheduler_address}",
            f"--temp_location={staging}",
        ]
        expected, got, summary = _ingest_both(voc_corpus, tmp_path, args, helpers.artifact_files)
        with distributed.Client(cluster) as client:
            pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    assert summary["runner"].startswith("apache_beam.runners.dask.dask_runner.DaskRunner")
    _assert_identical(expected, got)
    assert list(staging.iterdir()) == []  # the staging folder is removed after the copy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the job service exited with status {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the job service did not listen on port {port} in {seconds:.0f} s")


@pytest.fixture(scope="module")
def job_endpoint():
    """Beam's own job service (the job API that Flink and Spark job servers speak)."""
    port = _free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main"]
        + ["--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, service)
        yield f"127.0.0.1:{port}"
    finally:
        service.terminate()
        service.wait(timeout=30)


def _portable_args(endpoint: str, staging) -> list[str]:
    return [
        "--runner=PortableRunner",
        f"--job_endpoint={endpoint}",
        "--environment_type=LOOPBACK",
        f"--temp_location={staging}",
    ]


def test_portable_runner_on_beams_job_service_byte_identical(
    voc_corpus, tmp_path, job_endpoint, helpers
):
    args = _portable_args(job_endpoint, tmp_path / "shared")
    expected, got, summary = _ingest_both(voc_corpus, tmp_path, args, helpers.artifact_files)
    assert summary["runner"] == "PortableRunner (from --beam-arg)"
    _assert_identical(expected, got)


def test_remote_runner_without_shared_location_is_refused(voc_corpus, tmp_path):
    """A remote runner's workers cannot write the step's local folder: refused, nothing written."""
    args = ["--runner=PortableRunner", "--job_endpoint=127.0.0.1:1"]
    out = tmp_path / "examples"
    with pytest.raises(UserError, match=r"--temp_location") as err:
        run(voc_corpus.input_path, voc_corpus.fmt, str(out), beam_args=args)
    assert "\n" not in str(err.value)
    assert not out.exists()


def test_failed_remote_run_removes_its_staging_folder(
    voc_corpus, tmp_path, job_endpoint, monkeypatch
):
    """A job that fails after writing shards leaves neither the artifact nor staged files.

    The LOOPBACK environment runs the workers in this process, so the failure can be injected.
    """
    from components.ingest import shard_work

    def fail(lines, path):
        raise OSError(f"injected failure writing {path}")

    monkeypatch.setattr(shard_work, "write_quarantine", fail)
    staging = tmp_path / "shared"
    staging.mkdir()
    out = tmp_path / "examples"
    with pytest.raises(Exception, match="injected failure"):
        run(
            voc_corpus.input_path,
            voc_corpus.fmt,
            str(out),
            beam_args=_portable_args(job_endpoint, staging),
        )
    assert not out.exists()
    assert list(staging.iterdir()) == []
