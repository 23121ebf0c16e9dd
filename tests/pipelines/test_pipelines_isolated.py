"""``nasdet run --isolated``: what a task can see, checked from inside tasks of a toy pipeline;
the checks before a run; and the whole pipeline twice, as a cluster would run it (slow).

This module does not use ``from __future__ import annotations``: KFP reads the toy components'
interfaces from the real annotation objects.
"""

import base64
import json
import os
import pathlib

import pytest
from kfp import compiler, dsl, kubernetes, local
from kfp.dsl import Artifact, Input, Output

from components.errors import UserError
from pipelines import isolated

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


@pytest.fixture(scope="module")
def toy_yaml(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("toy") / "toy.yaml"
    compiler.Compiler().compile(toy, str(path))
    return str(path)


def test_read_compiled_mounts_and_secrets():
    default = isolated.read_compiled(str(GOLDEN / "nasdet-default.yaml"))
    assert default.platform("evaluate_model").mounts == (
        isolated.Mount("nasdet-serving", "/mnt/serving"),
    )
    assert default.platform("ingest_examples").mounts == ()
    assert {m.claim for m in default.platform("train_model").mounts} == {
        "nasdet-serving",
        "nasdet-work",
    }
    gpu = isolated.read_compiled(str(GOLDEN / "nasdet-gpu-node-pool.yaml"))
    assert gpu.secret_keys() == {"object-store-credentials": {"access-key", "secret-key"}}
    assert isolated.Mount("nasdet-data", "/mnt/data") in gpu.platform("ingest_examples").mounts


def test_secrets_file_forms(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("object-store-credentials: {access-key: a, secret-key: s}\n")
    assert isolated.load_secrets(str(plain)) == {
        "object-store-credentials": {"access-key": "a", "secret-key": "s"}
    }
    manifests = tmp_path / "manifests.yaml"
    encoded = base64.b64encode(b"s3cr3t").decode()
    manifests.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: one}\nstringData: {k: v}\n---\n"
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: two}}\ndata: {{k: {encoded}}}\n"
    )
    assert isolated.load_secrets(str(manifests)) == {"one": {"k": "v"}, "two": {"k": "s3cr3t"}}
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Secret\nmetadata: {name: x}\ndata: {k: '%%%'}\n")
    with pytest.raises(UserError, match="x.data.k is not base64"):
        isolated.load_secrets(str(bad))


def test_a_missing_secret_refuses_before_any_task(tmp_path):
    gpu = isolated.read_compiled(str(GOLDEN / "nasdet-gpu-node-pool.yaml"))
    with pytest.raises(UserError, match="uses the secret 'object-store-credentials'"):
        isolated.check_secrets(gpu, {})
    with pytest.raises(UserError, match="has no key 'secret-key'"):
        isolated.check_secrets(gpu, {"object-store-credentials": {"access-key": "a"}})


def test_paths_map_into_the_volumes_a_step_mounts(tmp_path):
    gpu = isolated.read_compiled(str(GOLDEN / "nasdet-gpu-node-pool.yaml"))
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


def test_what_a_task_sees(tmp_path, toy_yaml, monkeypatch):
    """Inputs are copies elsewhere, the producer's folder is hidden, only the task's volumes are
    bound, /tmp and HOME are private, the environment is the spec's plus secrets, no network."""
    from kfp import components

    monkeypatch.setenv("NASDET_TEST_HOST_ONLY", "leaked")
    work = tmp_path / "work"
    compiled = isolated.read_compiled(toy_yaml)
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
