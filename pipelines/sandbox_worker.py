"""Start one search worker the way its own pod would run: own namespaces, reached over a veth.

``python -m pipelines.sandbox_worker COMMAND [ARGS...]`` is the worker launcher that
``nasdet run --isolated`` gives the search task (``NASDET_SEARCH_WORKER_LAUNCHER``); the
distributed search runs each worker command through it (``components.search.distributed``).
It runs inside the chief's isolated task, where it

- creates a veth pair: ``nsc<N>`` stays in the chief's network namespace with ``10.233.N.1/30``,
  ``nsw<N>`` moves into the worker's new network namespace with ``10.233.N.2/30`` (the worker's
  only way to the chief, as the pod network is between pods);
- starts the worker under ``unshare --mount --net`` and ``pipelines.sandbox_init`` with the plan
  in ``NASDET_WORKER_SANDBOX_PLAN``: a private ``/tmp`` (so not the chief's inputs), the task
  folders hidden, only the volumes the search step mounts (a worker pod mounts the same ones);
- sets ``KERASTUNER_ORACLE_IP`` to the chief's end of the pair, writes one line saying which
  namespaces the worker got, waits for it and exits with its status (a killed worker reads as
  killed by the same signal). SIGTERM is passed on to the worker.

Needs ``ip`` (iproute2), ``unshare`` and ``nsenter`` (util-linux). Any failure to set up prints
one ``error:`` line and exits with 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PLAN_ENV = "NASDET_WORKER_SANDBOX_PLAN"
LAUNCHER_ENV = "NASDET_SEARCH_WORKER_LAUNCHER"
NAMESPACE_WAIT_S = 30.0


class SetupError(Exception):
    """The worker's sandbox could not be set up."""


def launcher_command() -> str:
    """The value of ``NASDET_SEARCH_WORKER_LAUNCHER`` for an isolated task."""
    return f"{sys.executable} -m pipelines.sandbox_worker"


def addresses(tuner_id: str) -> tuple[int, str, str]:
    """``(index, chief address, worker address)`` of worker ``worker<index>``."""
    index = tuner_id[len("worker") :] if tuner_id.startswith("worker") else ""
    if not index.isdigit() or int(index) > 250:
        raise SetupError(f"KERASTUNER_TUNER_ID {tuner_id!r} is not worker0..worker250")
    n = int(index)
    return n, f"10.233.{n}.1", f"10.233.{n}.2"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"{name} is not installed")
    return path


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise SetupError(f"{' '.join(command)}: {detail[-1] if detail else result.returncode}")


def _namespace(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _wait_for_own_namespace(child: subprocess.Popen) -> None:
    """Wait until ``child`` (``unshare``) has entered its new network namespace."""
    mine = _namespace("self", "net")
    deadline = time.monotonic() + NAMESPACE_WAIT_S
    while True:
        if child.poll() is not None:
            raise SetupError(f"the worker exited with status {child.returncode} before its setup")
        try:
            if _namespace(child.pid, "net") != mine:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SetupError("the worker did not enter its own network namespace")
        time.sleep(0.05)


def _terminate(child: subprocess.Popen) -> None:
    """Pass SIGTERM on to the worker (``unshare`` itself ignores it while it waits)."""
    try:
        with open(f"/proc/{child.pid}/task/{child.pid}/children") as f:
            pids = [int(pid) for pid in f.read().split()]
    except OSError:
        pids = []
    for pid in pids or [child.pid]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def main(argv: list[str]) -> int:
    """Launch ``argv`` as an isolated worker (see the module docstring); return its status."""
    if not argv:
        sys.stderr.write("error: usage: python -m pipelines.sandbox_worker COMMAND...\n")
        return 2
    child = None
    plan_file = None
    host_if = None
    ip = None
    try:
        plan = json.loads(os.environ[PLAN_ENV])
        tuner = os.environ.get("KERASTUNER_TUNER_ID", "")
        index, chief_ip, worker_ip = addresses(tuner)
        ip, unshare, nsenter = _tool("ip"), _tool("unshare"), _tool("nsenter")
        host_if, pod_if = f"nsc{index}", f"nsw{index}"
        subprocess.run([ip, "link", "del", host_if], capture_output=True, check=False)
        _run(ip, "link", "add", host_if, "type", "veth", "peer", "name", pod_if)
        _run(ip, "addr", "add", f"{chief_ip}/30", "dev", host_if)
        _run(ip, "link", "set", host_if, "up")
        # What the chief's sandbox hid under /tmp is gone with the worker's own /tmp; what it
        # hid inside the image paths is hidden again.
        plan["hide"] = [path for path in plan["hide"] if os.path.isdir(path)]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(plan, f)
            plan_file = f.name
        env = {k: v for k, v in os.environ.items() if k not in (PLAN_ENV, LAUNCHER_ENV)}
        env["KERASTUNER_ORACLE_IP"] = chief_ip
        sandboxed = [unshare, "--mount", "--net", "--fork", sys.executable, "-m"]
        child = subprocess.Popen([*sandboxed, "pipelines.sandbox_init", plan_file, *argv], env=env)
        signal.signal(signal.SIGTERM, lambda *_: _terminate(child))
        _wait_for_own_namespace(child)
        _run(ip, "link", "set", pod_if, "netns", str(child.pid))
        inside = [nsenter, f"--net=/proc/{child.pid}/ns/net", ip]
        _run(*inside, "addr", "add", f"{worker_ip}/30", "dev", pod_if)
        _run(*inside, "link", "set", pod_if, "up")
        print(
            f"{tuner}: own namespaces ({_namespace(child.pid, 'net')}, "
            f"{_namespace(child.pid, 'mnt')}; the chief's {_namespace('self', 'net')}, "
            f"{_namespace('self', 'mnt')}), {worker_ip} -> chief {chief_ip} over a veth pair",
            flush=True,
        )
    except (SetupError, OSError, KeyError, ValueError) as err:
        sys.stderr.write(f"error: isolated worker: {err}\n")
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        _cleanup(ip, host_if, plan_file)
        return 2
    code = child.wait()
    _cleanup(ip, host_if, plan_file)
    if code < 0:  # killed by a signal: end the same way, so the chief sees what happened
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def _cleanup(ip: str | None, host_if: str | None, plan_file: str | None) -> None:
    if ip and host_if:  # gone already when the worker's namespace ended
        subprocess.run([ip, "link", "del", host_if], capture_output=True, check=False)
    if plan_file:
        with contextlib.suppress(OSError):
            os.remove(plan_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
