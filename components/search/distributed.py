"""KerasTuner distributed mode: a chief oracle over gRPC and N workers, supervised by the step.

The chief is a tuner process with ``KERASTUNER_TUNER_ID=chief``: its ``search()`` only serves the
oracle over gRPC and never returns when a worker has crashed (the oracle waits for that worker
forever), so the step runs the chief as a subprocess, starts the workers, waits for the workers
to exit (successfully or not) and then stops the chief itself. The oracle's state and every
trial are saved in the project directory as they happen, so stopping the chief loses nothing.

Workers are local subprocesses on 127.0.0.1, or, inside a Kubernetes cluster, the pods of a Job
created by :mod:`components.search.k8s_job` and pointed at this pod's IP. With a *launcher*
(``NASDET_SEARCH_WORKER_LAUNCHER``, a command line that starts one worker command the way a
pod would run it: ``nasdet run --isolated`` sets one) each worker is started through it: the
chief then listens on every interface, the examples are copied into the work folder (which the
workers mount, as worker pods do) and the launcher sets ``KERASTUNER_ORACLE_IP`` to the
chief's address as the worker sees it.

``python -m components.search.distributed --spec-json SPEC`` is the entry point of one tuner
process (chief or worker), configured by the ``KERASTUNER_*`` environment variables.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

from components import files
from components.errors import UserError
from components.search.tuners import SearchSpec

CHIEF_ID = "chief"
LAUNCHER_ENV = "NASDET_SEARCH_WORKER_LAUNCHER"
STARTUP_TIMEOUT_S = 300.0
POLL_S = 0.5
WORKER_GRACE_S = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _spawn(
    spec: SearchSpec,
    tuner_id: str,
    ip: str,
    port: int,
    log_path: str,
    launcher: Sequence[str] = (),
) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        KERASTUNER_TUNER_ID=tuner_id,
        KERASTUNER_ORACLE_IP=ip,
        KERASTUNER_ORACLE_PORT=str(port),
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    try:
        return subprocess.Popen(
            [
                *launcher,
                sys.executable,
                "-m",
                "components.search.distributed",
                "--spec-json",
                spec.to_json(),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def _wait_all(procs: list[subprocess.Popen], seconds: float) -> None:
    """Wait up to ``seconds`` for every process of ``procs`` to exit."""
    deadline = time.monotonic() + seconds
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL_S)


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> int:
    """Terminate ``proc`` (SIGTERM, then SIGKILL after ``grace_s``); return its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _start_chief(spec: SearchSpec, bind_ip: str, connect_ip: str, logs: str):
    port = free_port(bind_ip if bind_ip != "0.0.0.0" else "127.0.0.1")
    chief_log = os.path.join(logs, "chief.log")
    chief = _spawn(spec, CHIEF_ID, bind_ip, port, chief_log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not _port_open(connect_ip, port):
        if chief.poll() is not None or time.monotonic() > deadline:
            _stop(chief)
            raise RuntimeError(
                f"the search chief did not start (exit {chief.returncode}):\n{_tail(chief_log)}"
            )
        time.sleep(POLL_S)
    return chief, port, chief_log


def run_local(
    spec: SearchSpec,
    workers: int,
    timeout_s: float | None = None,
    launcher: Sequence[str] = (),
) -> dict:
    """Run a chief and ``workers`` worker subprocesses until the workers exit.

    Workers run on 127.0.0.1, or through ``launcher`` (see the module docstring). Returns
    ``{"chief_exit": int, "worker_exits": [int, ...], "logs": dir}``. The chief is stopped by
    this function once every worker has exited (or when ``timeout_s`` passes, when the workers
    are stopped too). Logs are in ``<spec.directory>/logs/``.
    """
    logs = os.path.join(spec.directory, "logs")
    os.makedirs(logs, exist_ok=True)
    bind = "127.0.0.1"
    if launcher:
        spec = copy_examples(spec)
        bind = "0.0.0.0"
    chief, port, chief_log = _start_chief(spec, bind, "127.0.0.1", logs)
    procs = []
    try:
        for index in range(workers):
            log_path = os.path.join(logs, f"worker{index}.log")
            procs.append(_spawn(spec, f"worker{index}", bind, port, log_path, launcher))
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while any(p.poll() is None for p in procs):
            if chief.poll() is not None:
                # The chief ended (all trials done, or it died): workers cannot go on; give
                # the ones finishing their last trial a moment to exit on their own.
                _wait_all(procs, WORKER_GRACE_S)
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
    finally:
        worker_exits = [_stop(p) for p in procs]
        chief_exit = _stop(chief)
    for index, code in enumerate(worker_exits):
        tuner = f"worker{index}"
        notes = _launcher_notes(os.path.join(logs, f"{tuner}.log"), tuner)
        sys.stderr.write(f"search: {tuner} exited with status {code}{notes}\n")
    return {"chief_exit": chief_exit, "worker_exits": worker_exits, "logs": logs}


def _launcher_notes(log_path: str, tuner: str) -> str:
    """The lines a launcher wrote about ``tuner`` in its log (``<tuner>: ...``), joined."""
    try:
        with open(log_path, errors="replace") as f:
            lines = [line.strip() for line in f if line.startswith(f"{tuner}: ")]
    except OSError:
        return ""
    return "".join(f"; {line[len(tuner) + 2 :]}" for line in lines)


def share_examples(spec: SearchSpec, pod: dict) -> SearchSpec:
    """``spec`` with its examples copied where the worker pods see them too.

    KFP downloads the step's input artifacts into the chief's pod only, so the examples are
    copied into the search's work folder, which must lie on a PersistentVolumeClaim the step
    mounts (``checkpoint_root`` on the profile's work volume): the worker pods mount the same
    claims. Remote examples (a URI) are left as they are. Raises UserError when the work
    folder is on the pod's own disk.
    """
    from components.search.k8s_job import shared_claim

    if shared_claim(pod, spec.directory) is None:
        raise UserError(
            f"search_workers > 0: the worker pods cannot see the search's work folder "
            f"{spec.directory}: set checkpoint_root on a volume the search step mounts "
            f"(the profile's work volume)"
        )
    return copy_examples(spec)


def copy_examples(spec: SearchSpec) -> SearchSpec:
    """``spec`` with its local examples copied into its work folder (``<directory>/examples``),
    once; remote examples (a URI) are left as they are."""
    if "://" in spec.examples_dir:
        return spec
    target = os.path.join(spec.directory, "examples")
    if os.path.abspath(spec.examples_dir) != target and not os.path.isdir(target):
        with files.atomic_output_dir(target) as staging:
            shutil.copytree(spec.examples_dir, staging, dirs_exist_ok=True)
    return dataclasses.replace(spec, examples_dir=target)


def run_kubernetes(spec: SearchSpec, workers: int, timeout_s: float | None = None) -> dict:
    """Run the chief here (this pod) and ``workers`` worker pods as a Kubernetes Job.

    The examples are first shared with the workers (:func:`share_examples`). The Job is
    deleted when the workers are done, when the chief dies, or on ``timeout_s``. Returns
    ``{"chief_exit", "succeeded", "failed", "job", "logs"}``.
    """
    from components.search.k8s_job import KubernetesWorkers

    logs = os.path.join(spec.directory, "logs")
    os.makedirs(logs, exist_ok=True)
    job = KubernetesWorkers(workers, job_name=f"nasdet-search-{uuid.uuid4().hex[:8]}")
    spec = share_examples(spec, job.pod)
    chief, port, _ = _start_chief(spec, "0.0.0.0", job.pod_ip, logs)
    succeeded = failed = 0
    started = False
    try:
        job.start(port, spec.to_json())
        started = True
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while chief.poll() is None:
            done, succeeded, failed = job.finished()
            if done or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(10 * POLL_S)
    finally:
        if started:
            job.delete()
        chief_exit = _stop(chief)
    return {
        "chief_exit": chief_exit,
        "succeeded": succeeded,
        "failed": failed,
        "job": job.name,
        "logs": logs,
    }


def _tuner_id_from_env() -> None:
    """Give a Job pod its tuner id (``worker<completion index>``) when none is set."""
    if "KERASTUNER_TUNER_ID" not in os.environ and "JOB_COMPLETION_INDEX" in os.environ:
        os.environ["KERASTUNER_TUNER_ID"] = f"worker{os.environ['JOB_COMPLETION_INDEX']}"


def _wait_for_oracle() -> None:
    """A worker waits until the chief's oracle answers (a new pod's network may lag)."""
    if os.environ.get("KERASTUNER_TUNER_ID", CHIEF_ID) == CHIEF_ID:
        return
    ip, port = os.environ.get("KERASTUNER_ORACLE_IP"), os.environ.get("KERASTUNER_ORACLE_PORT")
    if not ip or not port:
        return
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not _port_open(ip, int(port)):
        if time.monotonic() > deadline:
            raise UserError(f"the search chief at {ip}:{port} did not answer")
        time.sleep(POLL_S)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of one tuner process (chief or worker) of a distributed search."""
    parser = argparse.ArgumentParser(description="one tuner process of a distributed search")
    parser.add_argument("--spec-json", required=True, help="the SearchSpec as JSON")
    args = parser.parse_args(argv)
    _tuner_id_from_env()
    _wait_for_oracle()
    from components.search.search_loop import search_in_process

    search_in_process(SearchSpec.from_json(args.spec_json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
