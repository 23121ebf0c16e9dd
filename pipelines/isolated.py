"""``nasdet run --isolated``: every task of the compiled pipeline run the way a pod sees it.

The pipeline is compiled for the profile (as ``nasdet compile`` does, so a profile mistake fails
here as it would on the cluster), loaded back from the YAML and run by kfp.local, which does
the orchestration, the conditions and the retries of the compiled retry policies. Only how a
task's command is started changes (:func:`isolation`): each task runs in its own mount and
network namespaces (``unshare``; with a user namespace when not root) where

- ``/tmp`` is a private tmpfs and ``HOME`` a fresh folder in it;
- the task's input artifacts are copies, at ``/tmp/inputs/<name>/`` rather than at the
  producer's path, and the task's output folder starts empty on every attempt (a new pod);
- the pipeline root (every other task's artifacts) and the local folders of all volumes are
  hidden; only the volumes the compiled platform spec mounts for this task are bound, each at
  its mount path, each a local folder that persists across runs like a PersistentVolumeClaim
  (``<work>/volumes/<claim>`` unless mapped with ``--volume CLAIM=DIR``);
- the environment is the container's (from the compiled spec) plus the secrets the task uses
  as environment variables, read from ``--secrets FILE``; nothing else of this shell;
- the network is a loopback interface only: nothing can be downloaded;
- a task that starts worker pods (a distributed search) starts each worker through
  ``pipelines.sandbox_worker``: in namespaces of its own, with the task's volumes and nothing
  of its disk, connected to the task by a veth pair only.

Resources, GPUs and placement are ignored, as kfp.local does. The rest of this machine's file
system (the interpreter, the code, as in the image) stays visible.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from components.errors import UserError
from pipelines.compiled_platform import (
    CompiledPipeline,
    ExecutorPlatform,
    check_secrets,
    load_secrets,
    read_compiled,
)

INPUTS_DIR = "/tmp/inputs"
HOME_DIR = "/tmp/home"
# What a task keeps of this shell's environment (the image's own settings).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "TF_CPP_MIN_LOG_LEVEL", "TZ")


def namespace_prefix() -> list[str]:
    """The ``unshare`` command that starts a task in new mount and network namespaces.

    Raises UserError (one line) when this machine cannot isolate: no ``unshare``, or namespaces
    not permitted (then the run refuses instead of running unisolated).
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        raise UserError("--isolated needs unshare (util-linux), which is not installed")
    prefix = [unshare, "--mount", "--net", "--fork"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    with tempfile.TemporaryDirectory() as tmp:
        plan = os.path.join(tmp, "plan.json")
        with open(plan, "w", encoding="utf-8") as f:
            json.dump({"keep": [], "hide": [], "home": HOME_DIR}, f)
        probe = subprocess.run(
            [*prefix, sys.executable, "-m", "pipelines.sandbox_init", plan, "true"],
            capture_output=True,
            text=True,
            check=False,
        )
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit status {probe.returncode}"
        raise UserError(f"--isolated: this machine cannot isolate a task ({reason})")
    return prefix


@dataclasses.dataclass
class Sandbox:
    """Starts task commands the way pods see them (see the module docstring)."""

    compiled: CompiledPipeline
    work_dir: str
    volume_dirs: dict[str, str]
    secrets: dict[str, dict[str, str]]
    prefix: list[str]

    def hidden(self) -> list[str]:
        """Host folders no task sees: the work folder and every volume's local folder."""
        paths = [self.work_dir]
        for path in self.volume_dirs.values():
            if not any(_inside(path, p) for p in paths):
                paths.append(path)
        return paths

    def image_paths(self) -> list[str]:
        """What stands for the image: the interpreter, its packages and the code, where they
        lie under ``/tmp`` or a hidden folder (a checkout in /tmp): bound again at their paths."""
        import pipelines

        code = os.path.dirname(os.path.dirname(os.path.abspath(pipelines.__file__)))
        covered = ["/tmp", *self.hidden()]
        paths: list[str] = []
        for path in (sys.prefix, sys.base_prefix, code):
            path = os.path.realpath(path)
            if any(_inside(path, c) for c in covered) and not any(_inside(path, p) for p in paths):
                paths = [p for p in paths if not _inside(p, path)] + [path]
        return paths

    def run(self, full_command: list[str], env_vars: Mapping[str, str] | None = None) -> int:
        """Run one task's command (kfp.local's) isolated; stream its output; return its status."""
        function = _argument(full_command, "--function_to_execute")
        platform = self.compiled.platform(function)
        position = full_command.index("--executor_input") + 1
        executor_input = json.loads(full_command[position])
        task_root = os.path.dirname(executor_input["outputs"]["outputFile"])
        _empty(task_root)  # a new pod: nothing left from an earlier attempt
        stage = tempfile.mkdtemp(prefix=f"{os.path.basename(task_root)}-", dir=self._stage_root())
        try:
            keep = [{"src": task_root, "dst": task_root}]
            inputs = os.path.join(stage, "inputs")
            os.makedirs(inputs)
            _copy_inputs(executor_input, inputs)
            keep.append({"src": inputs, "dst": INPUTS_DIR})
            for mount in platform.mounts:
                source = self.volume_dirs[mount.claim]
                os.makedirs(source, exist_ok=True)
                keep.append({"src": source, "dst": mount.path})
            command = list(full_command)
            command[position] = json.dumps(executor_input)
            plan_file = os.path.join(stage, "plan.json")
            with open(plan_file, "w", encoding="utf-8") as f:
                plan = {"image": self.image_paths(), "keep": keep, "hide": self.hidden()}
                json.dump({**plan, "home": HOME_DIR}, f)
            env = self._environment(platform, env_vars or {})
            env.update(self._worker_launcher(platform))
            sandboxed = [*self.prefix, sys.executable, "-m", "pipelines.sandbox_init", plan_file]
            return _stream([*sandboxed, *command], env)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _worker_launcher(self, platform: ExecutorPlatform) -> dict[str, str]:
        """What lets the task start worker pods (a distributed search): the launcher and the
        plan of a worker's sandbox, which mounts the task's volumes and nothing of its disk."""
        from pipelines import sandbox_worker

        plan = {
            "image": self.image_paths(),
            "keep": [{"src": m.path, "dst": m.path} for m in platform.mounts],
            "hide": self.hidden(),
            "home": HOME_DIR,
        }
        return {
            sandbox_worker.LAUNCHER_ENV: sandbox_worker.launcher_command(),
            sandbox_worker.PLAN_ENV: json.dumps(plan),
        }

    def _stage_root(self) -> str:
        path = os.path.join(self.work_dir, "isolated")
        os.makedirs(path, exist_ok=True)
        return path

    def _environment(self, platform: ExecutorPlatform, env_vars: Mapping[str, str]) -> dict:
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update({"HOME": HOME_DIR, "TMPDIR": "/tmp", "PYTHONUNBUFFERED": "1"})
        env.update(env_vars)
        for s in platform.secrets:
            env[s.env] = self.secrets[s.secret][s.key]
        return env


def _argument(command: list[str], flag: str) -> str:
    try:
        return command[command.index(flag) + 1]
    except (ValueError, IndexError):
        raise UserError(
            f"--isolated runs KFP lightweight components only ({flag} missing)"
        ) from None


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _empty(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def _copy_inputs(executor_input: dict, inputs: str) -> None:
    """Copy every input artifact under ``inputs`` and point ``executor_input`` at the copies."""
    artifacts = executor_input.get("inputs", {}).get("artifacts", {})
    for name, entry in artifacts.items():
        for index, artifact in enumerate(entry.get("artifacts", [])):
            uri = artifact.get("uri", "")
            if not uri or "://" in uri or not os.path.exists(uri):
                continue
            relative = os.path.join(name, str(index), os.path.basename(uri.rstrip("/")))
            target = os.path.join(inputs, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.isdir(uri):
                shutil.copytree(uri, target, symlinks=True)
            else:
                shutil.copy2(uri, target)
            artifact["uri"] = os.path.join(INPUTS_DIR, relative)


def _stream(command: list[str], env: dict[str, str]) -> int:
    """Run ``command``; print its output line by line (as kfp.local does); return its status."""
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
        start_new_session=True,
    ) as process:
        if process.stdout:
            for line in iter(process.stdout.readline, ""):
                print(line, end="")
            print("\n")
        return process.wait()


@contextlib.contextmanager
def isolation(sandbox: Sandbox) -> Iterator[None]:
    """Within: kfp.local's subprocess runner starts every task through ``sandbox``."""
    from kfp.local import subprocess_task_handler

    original = subprocess_task_handler.run_local_subprocess
    subprocess_task_handler.run_local_subprocess = sandbox.run
    try:
        yield
    finally:
        subprocess_task_handler.run_local_subprocess = original


def pod_path(
    host_path: str, step: str, compiled: CompiledPipeline, volume_dirs: Mapping[str, str]
) -> str:
    """Where the pod of ``step`` sees the host file or folder ``host_path``.

    A path inside the local folder of a volume that ``step`` mounts maps to the volume's mount
    path. Raises UserError when ``step`` mounts no volume holding it: on the cluster the pod
    would not see it either.
    """
    platform = compiled.platform(_STEP_FUNCTIONS[step])
    for mount in platform.mounts:
        local = volume_dirs.get(mount.claim)
        if local and _inside(host_path, local):
            relative = os.path.relpath(os.path.abspath(host_path), os.path.abspath(local))
            return os.path.normpath(os.path.join(mount.path, relative))
    mounted = ", ".join(f"{m.claim} at {m.path}" for m in platform.mounts) or "none"
    raise UserError(
        f"{host_path}: the {step} step's pod would not see it: put it in the local folder of a "
        f"volume the {step} step mounts (its volumes: {mounted}; map one with --volume CLAIM=DIR)"
    )


def host_path(pod_path_: str, compiled: CompiledPipeline, volume_dirs: Mapping[str, str]) -> str:
    """The local folder behind a path seen in a pod (a volume's mount path); else the path."""
    for function in _STEP_FUNCTIONS.values():
        for mount in compiled.platform(function).mounts:
            if _inside(pod_path_, mount.path) and mount.claim in volume_dirs:
                relative = os.path.relpath(pod_path_, mount.path)
                return os.path.normpath(os.path.join(volume_dirs[mount.claim], relative))
    return pod_path_


# Profile step name -> component function (pipelines.kfp_steps).
_STEP_FUNCTIONS = {
    "ingest": "ingest_examples",
    "changes": "check_changes",
    "search": "search_architecture",
    "train": "train_model",
    "evaluate": "evaluate_model",
    "push": "push_model",
}


def parse_volume_maps(
    items: list[str], work_dir: str, compiled: CompiledPipeline, aliases: Mapping[str, str]
) -> dict[str, str]:
    """The local folder of every claim: ``--volume CLAIM=DIR`` (or profile volume name), else
    ``<work>/volumes/<claim>``. UserError for a malformed item or an unknown volume."""
    claims = compiled.claims()
    dirs = {claim: os.path.join(work_dir, "volumes", claim) for claim in claims}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise UserError(f"--volume: expected CLAIM=DIR, got {item!r}")
        claim = aliases.get(name, name)
        if claim not in dirs:
            known = ", ".join(claims) or "none"
            raise UserError(f"--volume {item}: no step mounts a volume {name!r} (claims: {known})")
        dirs[claim] = os.path.abspath(folder)
    return dirs


def _make_mount_points(compiled: CompiledPipeline) -> None:
    """Create the volumes' mount points on this machine (empty folders) when missing."""
    for platform in compiled.executors.values():
        for mount in platform.mounts:
            try:
                os.makedirs(mount.path, exist_ok=True)
            except OSError as err:
                raise UserError(
                    f"--isolated: cannot create the mount point {mount.path} ({err.strerror}): "
                    f"create it once (sudo mkdir -p {mount.path}) or run as root"
                ) from None


def check_work_dir(work_dir: str) -> None:
    """UserError when hiding ``work_dir`` would hide the interpreter or the code."""
    import pipelines

    code = os.path.dirname(os.path.dirname(os.path.abspath(pipelines.__file__)))
    for what, path in (("the Python environment", sys.prefix), ("the code", code)):
        if _inside(path, work_dir):
            raise UserError(
                f"--work-dir {work_dir} holds {what} ({path}); an isolated run hides its work "
                "folder from the tasks: choose a folder beside it"
            )


def prepare(
    arguments: Mapping[str, Any],
    work_dir: str,
    profile_path: str | None,
    volume_items: list[str],
    secrets_path: str | None,
    path_parameters: Mapping[str, str],
) -> tuple[Any, Sandbox, dict[str, Any]]:
    """Compile for the profile, check what the pods need; return (pipeline, sandbox, arguments).

    The pipeline is the component loaded back from the compiled YAML; ``arguments`` come back
    with each host path of ``path_parameters`` (name -> step) translated to where that step's
    pod sees it. Raises UserError (before any task runs) when isolation is not available, the
    profile is refused, a path is on no volume of its step, or a secret is missing.
    """
    from kfp import components

    from pipelines import compile_cmd, parameters, profile, step_io
    from pipelines.factory import PATH_USERS

    work_dir = os.path.abspath(work_dir)
    check_work_dir(work_dir)
    prefix = namespace_prefix()
    loaded = profile.load(profile_path)
    os.makedirs(os.path.join(work_dir, "isolated"), exist_ok=True)
    compiled_path = compile_cmd.compile_pipeline(
        os.path.join(work_dir, "isolated", "pipeline.yaml"), loaded
    )
    compiled = read_compiled(compiled_path)
    _make_mount_points(compiled)
    aliases = {name: volume.pvc for name, volume in loaded.volumes.items()}
    volume_dirs = parse_volume_maps(volume_items, work_dir, compiled, aliases)
    secrets = load_secrets(secrets_path)
    check_secrets(compiled, secrets)
    values = dict(arguments)
    for name, step in path_parameters.items():
        if values.get(name) and values[name] != step_io.PRODUCTION:
            values[name] = pod_path(values[name], step, compiled, volume_dirs)
    defaults = parameters.DEFAULTS
    profile.check_path_volumes(
        loaded, {n: (values.get(n, defaults[n]), steps) for n, steps in PATH_USERS.items()}
    )
    pipeline = components.load_component_from_file(compiled_path)
    return pipeline, Sandbox(compiled, work_dir, volume_dirs, secrets, prefix), values
