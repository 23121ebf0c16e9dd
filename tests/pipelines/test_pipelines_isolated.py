"""``nasdet run --isolated``: what a task can see, checked from inside tasks of a toy pipeline;
the checks before a run; and the whole pipeline twice, as a cluster would run it (slow).

This module does not use ``from __future__ import annotations``: KFP reads the toy components'
interfaces from the real annotation objects.
"""

import base64
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import pytest
import yaml
from kfp import compiler, dsl, kubernetes, local
from kfp.dsl import Artifact, Input, Output

from components.errors import UserError
from pipelines import compiled_platform, isolated

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO / "pipelines" / "golden"


@dsl.component(base_image="nasdet:test", install_kfp_package=False)
def produce(note: str, out: Output[Artifact]) -> str:
    """Write ``note`` to the output artifact and to the volume at /mnt/vol; return the path."""
    with open(out.path, "w") as f:
        f.write(note)
    with open("/mnt/vol/from-produce.txt", "w") as f:
        f.write(note)
    return out.path


@dsl.component(base_image="nasdet:test", install_kfp_package=False)
def inspect_pod(producer_uri: str, art: Input[Artifact], seen: Output[Artifact]):
    """Record what this task can see."""
    import json
    import os
    import pathlib
    import socket

    def connect(address):
        try:
            socket.create_connection(address, timeout=2).close()
            return "connected"
        except OSError as err:
            return type(err).__name__

    report = {
        "input_path": art.path,
        "input_text": pathlib.Path(art.path).read_text(),
        "producer_path_visible": os.path.exists(producer_uri),
        "tmp": sorted(os.listdir("/tmp")),
        "home": os.environ.get("HOME"),
        "host_only_env": os.environ.get("NASDET_TEST_HOST_ONLY"),
        "secret_env": os.environ.get("TOKEN"),
        "container_env": os.environ.get("FROM_SPEC"),
        "vol_mounted": os.path.exists("/mnt/vol/from-produce.txt"),
        "other_vol_mounted": os.path.isdir("/mnt/other") and bool(os.listdir("/mnt/other")),
        "internet": connect(("192.0.2.1", 80)),
    }
    with open(seen.path, "w") as f:
        json.dump(report, f)


@dsl.pipeline(name="toy")
def toy(note: str = "hello"):
    """Two tasks: one writes on a volume, the other sees its output as a copy."""
    first = produce(note=note)
    kubernetes.mount_pvc(first, pvc_name="toy-vol", mount_path="/mnt/vol")
    kubernetes.mount_pvc(first, pvc_name="toy-other", mount_path="/mnt/other")
    second = inspect_pod(producer_uri=first.outputs["Output"], art=first.outputs["out"])
    kubernetes.use_secret_as_env(second, secret_name="toy-secret", secret_key_to_env={"t": "TOKEN"})
    second.set_env_variable("FROM_SPEC", "yes")
    for task in (first, second):
        task.set_caching_options(False)


@dsl.component(base_image="nasdet:test", install_kfp_package=False)
def beam_ingest(beam_args: str, examples: Output[Artifact]) -> str:
    """Ingest the bundled sample with Beam; return the runner it used."""
    from pipelines import tasks

    result = tasks.ingest(
        data_path="",
        data_format="voc",
        images_dir="",
        classes_file="",
        val_fraction=0.15,
        test_fraction=0.15,
        beam_args=beam_args,
        output_dir=examples.path,
    )
    return f"{result.metrics['runner']}; {result.metrics['images']['accepted']} images"


@dsl.pipeline(name="beam-toy")
def beam_toy(beam_args: str = ""):
    """Only the ingestion, on Beam."""
    beam_ingest(beam_args=beam_args).set_caching_options(False)


@pytest.fixture(scope="module")
def toy_yaml(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("toy") / "toy.yaml"
    compiler.Compiler().compile(toy, str(path))
    return str(path)


def test_beam_ingestion_needs_no_network(tmp_path):
    """Ingestion on Beam (worker processes talking over loopback) in a pod without network:
    nothing is downloaded (Beam's DirectRunner would first fetch its Prism runner)."""
    from kfp import components

    path = tmp_path / "beam.yaml"
    compiler.Compiler().compile(beam_toy, str(path))
    work = tmp_path / "work"
    compiled = compiled_platform.read_compiled(str(path))
    sandbox = isolated.Sandbox(compiled, str(work), {}, {}, isolated.namespace_prefix())
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(work / "pipeline_root")
    )
    started = time.monotonic()
    with isolated.isolation(sandbox):
        components.load_component_from_file(str(path))(
            beam_args="--direct_running_mode=multi_processing --direct_num_workers=2"
        )
    (run,) = (work / "pipeline_root").iterdir()
    output = _task_output(run, "beam-ingest")
    runner = output["parameterValues"]["Output"]
    assert runner.startswith("DirectRunner multi_processing, 2 worker(s)"), runner
    assert runner.endswith("; 200 images")  # the whole bundled set
    assert time.monotonic() - started < 120


def test_read_compiled_mounts_and_secrets():
    default = compiled_platform.read_compiled(str(GOLDEN / "nasdet-default.yaml"))
    assert default.platform("evaluate_model").mounts == (
        compiled_platform.Mount("nasdet-serving", "/mnt/serving"),
    )
    assert default.platform("ingest_examples").mounts == ()
    assert {m.claim for m in default.platform("train_model").mounts} == {
        "nasdet-serving",
        "nasdet-work",
    }
    gpu = compiled_platform.read_compiled(str(GOLDEN / "nasdet-gpu-node-pool.yaml"))
    assert gpu.secret_keys() == {"object-store-credentials": {"access-key", "secret-key"}}
    assert (
        compiled_platform.Mount("nasdet-data", "/mnt/data")
        in gpu.platform("ingest_examples").mounts
    )


def test_secrets_file_forms(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("object-store-credentials: {access-key: a, secret-key: s}\n")
    assert compiled_platform.load_secrets(str(plain)) == {
        "object-store-credentials": {"access-key": "a", "secret-key": "s"}
    }
    manifests = tmp_path / "manifests.yaml"
    encoded = base64.b64encode(b"s3cr3t").decode()
    manifests.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: one}\nstringData: {k: v}\n---\n"
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: two}}\ndata: {{k: {encoded}}}\n"
    )
    assert compiled_platform.load_secrets(str(manifests)) == {
        "one": {"k": "v"},
        "two": {"k": "s3cr3t"},
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Secret\nmetadata: {name: x}\ndata: {k: '%%%'}\n")
    with pytest.raises(UserError, match="x.data.k is not base64"):
        compiled_platform.load_secrets(str(bad))


def test_a_missing_secret_refuses_before_any_task(tmp_path):
    gpu = compiled_platform.read_compiled(str(GOLDEN / "nasdet-gpu-node-pool.yaml"))
    with pytest.raises(UserError, match="uses the secret 'object-store-credentials'"):
        compiled_platform.check_secrets(gpu, {})
    with pytest.raises(UserError, match="has no key 'secret-key'"):
        compiled_platform.check_secrets(gpu, {"object-store-credentials": {"access-key": "a"}})


def test_paths_map_into_the_volumes_a_step_mounts(tmp_path):
    gpu = compiled_platform.read_compiled(str(GOLDEN / "nasdet-gpu-node-pool.yaml"))
    dirs = isolated.parse_volume_maps(
        [f"data={tmp_path / 'd'}"], str(tmp_path / "w"), gpu, {"data": "nasdet-data"}
    )
    assert dirs["nasdet-data"] == str(tmp_path / "d")
    assert dirs["nasdet-serving"] == str(tmp_path / "w" / "volumes" / "nasdet-serving")
    inside = tmp_path / "d" / "raccoon" / "annotations"
    assert isolated.pod_path(str(inside), "ingest", gpu, dirs) == "/mnt/data/raccoon/annotations"
    with pytest.raises(UserError, match="the train step's pod would not see it"):
        isolated.pod_path(str(inside), "train", gpu, dirs)
    assert isolated.host_path("/mnt/serving/nasdet/3", gpu, dirs) == os.path.join(
        dirs["nasdet-serving"], "nasdet", "3"
    )
    with pytest.raises(UserError, match="no step mounts a volume 'scratch'"):
        isolated.parse_volume_maps(["scratch=/x"], str(tmp_path), gpu, {})


def test_refuses_when_it_cannot_isolate(monkeypatch):
    monkeypatch.setattr(isolated.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="--isolated needs unshare"):
        isolated.namespace_prefix()


def test_refuses_a_work_dir_that_holds_the_code():
    with pytest.raises(UserError, match="holds the (code|Python environment)"):
        isolated.check_work_dir(str(REPO))


def test_a_work_dir_inside_a_checkout_under_tmp_stays_hidden(tmp_path, toy_yaml, monkeypatch):
    """A checkout under /tmp is bound again (it stands for the image), but its work folder with
    the pipeline root is hidden again inside it."""
    from kfp import components

    checkout = tmp_path / "checkout"
    (checkout / "code").mkdir(parents=True)
    (checkout / "code" / "module.py").write_text("# code")
    work = checkout / "work"
    compiled = compiled_platform.read_compiled(toy_yaml)
    volumes = isolated.parse_volume_maps([], str(work), compiled, {})
    sandbox = isolated.Sandbox(
        compiled, str(work), volumes, {"toy-secret": {"t": "tok"}}, isolated.namespace_prefix()
    )
    real = sandbox.image_paths()
    monkeypatch.setattr(sandbox, "image_paths", lambda: [*real, str(checkout)])
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(work / "pipeline_root")
    )
    with isolated.isolation(sandbox):
        components.load_component_from_file(toy_yaml)(note="in-checkout")
    (run,) = (work / "pipeline_root").iterdir()
    seen = json.loads((run / "inspect-pod" / "seen").read_text())
    assert seen["input_text"] == "in-checkout"
    assert seen["producer_path_visible"] is False


def test_what_a_task_sees(tmp_path, toy_yaml, monkeypatch):
    """Inputs are copies elsewhere, the producer's folder is hidden, only the task's volumes are
    bound, /tmp and HOME are private, the environment is the spec's plus secrets, no network."""
    from kfp import components

    monkeypatch.setenv("NASDET_TEST_HOST_ONLY", "leaked")
    work = tmp_path / "work"
    compiled = compiled_platform.read_compiled(toy_yaml)
    volumes = isolated.parse_volume_maps(
        ["toy-other=" + str(tmp_path / "other")], str(work), compiled, {}
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    (pathlib.Path("/tmp") / "nasdet-test-host-tmp").write_text("host")
    sandbox = isolated.Sandbox(
        compiled, str(work), volumes, {"toy-secret": {"t": "tok"}}, isolated.namespace_prefix()
    )
    pipeline = components.load_component_from_file(toy_yaml)
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(work / "pipeline_root")
    )
    with isolated.isolation(sandbox):
        pipeline(note="hi")
    (run,) = (work / "pipeline_root").iterdir()
    produced = run / "produce" / "out"
    assert produced.read_text() == "hi"
    seen = json.loads((run / "inspect-pod" / "seen").read_text())
    assert seen["input_text"] == "hi"
    assert seen["input_path"].startswith("/tmp/inputs/") and seen["input_path"] != str(produced)
    assert {"home", "inputs"} <= set(seen["tmp"])
    assert "nasdet-test-host-tmp" not in seen["tmp"]  # not the host's /tmp
    assert seen["home"] == "/tmp/home"
    assert seen["host_only_env"] is None
    assert seen["secret_env"] == "tok" and seen["container_env"] == "yes"
    assert not seen["vol_mounted"] and not seen["other_vol_mounted"]  # not this task's volumes
    assert seen["producer_path_visible"] is False  # the pipeline root is hidden
    assert seen["internet"] == "OSError"  # network unreachable: loopback only
    # The volume persists as a local folder (like a PVC), beside the work folder's other data.
    assert (work / "volumes" / "toy-vol" / "from-produce.txt").read_text() == "hi"


def _isolated_run(
    work: pathlib.Path, *extra: str, started: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``nasdet run --isolated``; ``started["pid"]`` is set to its process id."""
    argv = [sys.executable, "-m", "pipelines.cli", "run", "--isolated", "--work-dir", str(work)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with subprocess.Popen(
        [*argv, *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env,
    ) as proc:  # fmt: skip
        if started is not None:
            started["pid"] = proc.pid
        try:
            stdout, stderr = proc.communicate(timeout=1500)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _versions(model_root: pathlib.Path) -> list[str]:
    if not model_root.is_dir():
        return []
    return sorted(p.name for p in model_root.iterdir() if p.name.isdigit())


def _log(result: subprocess.CompletedProcess) -> str:
    path = re.search(r"^  full log +(\S+)$", result.stdout, re.M).group(1)
    return (REPO / path).read_text() if not os.path.isabs(path) else pathlib.Path(path).read_text()


def _task_output(run_dir: pathlib.Path, task: str) -> dict:
    """The executor output of a task: its artifacts' metadata (metrics) and parameters."""
    return json.loads((run_dir / task / "executor_output.json").read_text())


def _metrics(run_dir: pathlib.Path, task: str, name: str = "metrics") -> dict:
    (artifact,) = _task_output(run_dir, task)["artifacts"][name]["artifacts"]
    return artifact["metadata"]


@pytest.mark.slow
def test_isolated_node_pool_run_pushes_then_a_warm_start_run_compares(tmp_path, sample_dir):
    """Run 1, with the example node-pool profile (data read from its data volume, secrets from
    a file, a distributed search whose workers run as separate isolated pods), pushes version 1
    into the serving volume's folder. Run 2 (the default profile, the same volumes) reuses its
    architecture, warm-starts from it, compares with it, and pushes version 2 or refuses with
    the reason."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(sample_dir, data / "raccoon")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("object-store-credentials: {access-key: a, secret-key: s}\n")
    work = tmp_path / "work"
    profile = REPO / "pipelines" / "profiles" / "gpu-node-pool.yaml"
    common = ["--profile", str(profile), "--volume", f"data={data}"]
    common += ["--data", str(data / "raccoon" / "annotations")]
    common += ["--set", "train_epochs=1", "--set", "min_ap=0"]
    # A distributed search: each worker in its own namespaces, reaching the chief over a veth.
    common += ["--set", "search_workers=2", "--set", "search_max_trials=2"]
    common += ["--set", "search_epochs=1", "--set", "search_max_latency_ms=0"]  # all trials train
    common += ["--set", "search_screen=0"]
    refused = _isolated_run(work, *common)
    assert refused.returncode == 2 and refused.stderr.startswith("error: the pipeline uses the ")
    # Data outside every volume the ingest step mounts: refused before anything runs.
    outside = _isolated_run(
        work, *common[:4], "--secrets", str(secrets), "--data", str(sample_dir / "annotations")
    )
    assert outside.returncode == 2
    assert "the ingest step's pod would not see it" in outside.stderr

    first = _isolated_run(work, *common, "--secrets", str(secrets))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert f"isolated ({profile.relative_to(REPO)})" in first.stdout
    run = sorted((work / "pipeline_root").iterdir())[-1]
    examples = _task_output(run, "ingest-examples")["artifacts"]["examples"]["artifacts"][0]
    assert examples["metadata"]["data_path"] == "/mnt/data/raccoon/annotations"
    search = _metrics(run, "search-architecture")
    assert search["trials"] == 2 and search["status_counts.COMPLETED"] == 2
    # Every trial ran in a worker (the chief only serves the oracle), both workers took part.
    assert search["distributed.trials_by_tuner.worker0"] >= 1
    assert search["distributed.trials_by_tuner.worker1"] >= 1
    assert "distributed.trials_by_tuner.chief" not in search
    log = _log(first)
    for index in (0, 1):
        line = re.search(
            rf"search: worker{index} exited with status 0; own namespaces \((net:\[\d+\]), "
            rf"(mnt:\[\d+\]); the chief's (net:\[\d+\]), (mnt:\[\d+\])\), "
            rf"10\.233\.{index}\.2 -> chief 10\.233\.{index}\.1 over a veth pair",
            log,
        )
        assert line, log[-3000:]
        net, mnt, chief_net, chief_mnt = line.groups()
        assert net != chief_net and mnt != chief_mnt
    model_root = work / "volumes" / "nasdet-serving" / "nasdet"
    assert _versions(model_root) == ["1"]
    assert (model_root / "1" / "saved_model.pb").is_file()
    assert (model_root / "1" / "model.weights.h5").is_file()  # enough to warm-start from
    assert f"version 1 -> {model_root / '1'} (/mnt/serving/nasdet/1 in the pods)" in first.stdout
    assert "There is no pushed version under /mnt/serving/nasdet yet" in first.stdout

    second = _isolated_run(
        work, "--set", "architecture=production", "--set", "warm_start=production",
        "--set", "train_epochs=1",
    )  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "isolated (default profile)" in second.stdout
    log = _log(second)
    assert "architecture production: /mnt/serving/nasdet/1" in log
    assert "warm start production: /mnt/serving/nasdet/1" in log
    run = sorted((work / "pipeline_root").iterdir())[-1]
    blessing = json.loads((run / "evaluate-model" / "evaluation" / "blessing.json").read_text())
    assert "/mnt/serving/nasdet/1" in blessing["baseline_source"]
    assert blessing["baseline"] is not None
    model_meta = _task_output(run, "train-model")["artifacts"]["model"]["artifacts"][0]
    assert model_meta["metadata"]["warm_start"] == "/mnt/serving/nasdet/1"
    if blessing["blessed"]:
        assert _versions(model_root) == ["1", "2"]
        assert "pushed        version 2 -> " in second.stdout
    else:
        assert _versions(model_root) == ["1"]
        assert re.search(r"^  blessed +no: \w+: ", second.stdout, re.M), second.stdout
    # Both runs removed their checkpoints from the work volume when the steps succeeded.
    assert not list((work / "volumes" / "nasdet-work" / "checkpoints").iterdir())


def _descendants(root: int) -> list[int]:
    """The process ids below ``root`` (children, grandchildren, ...), from /proc."""
    parents: dict[int, int] = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _kill_when(path_glob: str, ready, function: str, run: dict, timeout: float = 900) -> dict:
    """Kill (SIGKILL, like a lost node) this test's task running ``function`` once
    ``ready(path)``: only processes below the run's own ``nasdet run`` (``run["pid"]``), so
    tests running beside this one keep theirs."""
    done: dict = {}

    def kill() -> bool:
        """Kill every process of the task (its wrappers and the executor), as ``pkill`` would."""
        killed = False
        for pid in _descendants(run["pid"]):
            try:
                argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"--function_to_execute" in argv and function.encode() in argv:
                    os.kill(pid, 9)
                    killed = True
            except OSError:  # gone meanwhile
                continue
        return killed

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in pathlib.Path("/").glob(path_glob.lstrip("/")):
                try:
                    if "pid" in run and ready(path) and kill():
                        done["killed"] = str(path)
                        return
                except (OSError, ValueError):
                    pass
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    done["thread"] = thread
    return done


@pytest.mark.slow
def test_a_killed_search_and_train_resume_in_the_retried_attempt(tmp_path):
    """Kill search after its first finished trial and train after its first epoch: the retried
    attempts (a fresh task folder each) resume from the work volume; no finished trial reruns,
    training continues from its last epoch."""
    data = yaml.safe_load((REPO / "pipelines" / "profiles" / "default.yaml").read_text())
    for step in ("search", "train"):
        data["steps"][step]["retry"] = {"num_retries": 2, "backoff_duration": "1s"}
    profile = tmp_path / "fast-retry.yaml"
    profile.write_text(yaml.safe_dump(data))
    work = tmp_path / "work"
    checkpoints = work / "volumes" / "nasdet-work" / "checkpoints"

    def trial_ended(path: pathlib.Path) -> bool:
        return '"event": "end"' in path.read_text()

    def epoch_done(path: pathlib.Path) -> bool:
        return json.loads(path.read_text()).get("epochs_done", 0) >= 1

    owner: dict = {}
    search = _kill_when(
        f"{checkpoints}/*/search/search/events.jsonl", trial_ended, "search_architecture", owner
    )
    train = _kill_when(f"{checkpoints}/*/train/state.json", epoch_done, "train_model", owner)
    settings = ["search_max_trials=2", "search_epochs=1", "search_screen=0", "train_epochs=2"]
    settings += ["min_ap=0"]
    result = _isolated_run(
        work, "--profile", str(profile), *[f"--set={s}" for s in settings], started=owner
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "killed" in search and "killed" in train, (search, train)
    for task in ("search-architecture", "train-model"):
        assert re.search(
            rf"\] {task}: FAILURE .*\n.*\] {task}: running \(attempt 2\)", result.stdout
        )
        assert re.search(rf"\] {task}: SUCCESS", result.stdout), result.stdout
    run = sorted((work / "pipeline_root").iterdir())[-1]
    searched = _metrics(run, "search-architecture")
    assert searched["trials"] == 2
    assert searched["resumed_trials"] >= 1
    assert searched["trials_run"] == searched["trials"] - searched["resumed_trials"]
    trained = _metrics(run, "train-model")
    assert trained["initial_epoch"] >= 1 and trained["epochs_run"] == 2
    assert not list(checkpoints.iterdir())  # removed once both steps succeeded


def test_the_worker_launcher_is_what_the_search_step_reads():
    from components.search import distributed
    from pipelines import sandbox_worker

    assert sandbox_worker.LAUNCHER_ENV == distributed.LAUNCHER_ENV
    assert sandbox_worker.addresses("worker3") == (3, "10.233.3.1", "10.233.3.2")
    with pytest.raises(sandbox_worker.SetupError):
        sandbox_worker.addresses("chief")
