"""The compiled pipeline: resources, placement, parameters, the push condition, golden files."""

from __future__ import annotations

import inspect
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from pipelines import compile_cmd, factory, parameters
from pipelines import profile as profile_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE_PROFILE = REPO / "pipelines" / "profiles" / "gpu-node-pool.yaml"
GPU_STEPS = ("search", "train", "evaluate")
TYPES = {str: "STRING", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE", bool: "BOOLEAN"}


def _compile(tmp_path, profile_path=None, extra=()) -> dict:
    out = tmp_path / "nasdet.yaml"
    argv = ["--output", str(out), *extra]
    if profile_path:
        argv += ["--profile", str(profile_path)]
    assert compile_cmd.main(argv) == 0
    spec: dict = {}
    for document in yaml.safe_load_all(out.read_text()):  # pipeline spec, then platform spec
        spec.update(document)
    return spec


@pytest.fixture(scope="module")
def default_spec(tmp_path_factory) -> dict:
    return _compile(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def example_spec(tmp_path_factory) -> dict:
    return _compile(tmp_path_factory.mktemp("example"), EXAMPLE_PROFILE)


def _executor(spec: dict, step: str) -> dict:
    return spec["deploymentSpec"]["executors"][f"exec-{factory.TASK_NAMES[step]}"]["container"]


def _k8s(spec: dict, step: str) -> dict:
    executors = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return executors.get(f"exec-{factory.TASK_NAMES[step]}", {})


def test_gpu_requests_on_search_train_evaluate_only(default_spec):
    for step in profile_lib.STEPS:
        resources = _executor(default_spec, step).get("resources", {})
        if step in GPU_STEPS:
            assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu", step
            assert resources["accelerator"]["resourceCount"] == "1", step
        else:
            assert "accelerator" not in resources, step
    assert _executor(default_spec, "train")["resources"]["resourceMemoryRequest"] == "16Gi"


def test_no_pip_install_and_profile_image(default_spec):
    image = profile_lib.load().image
    for name, executor in default_spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        text = " ".join(container["command"] + container.get("args", []))
        assert "pip install" not in text, name
        assert container["image"] == image, name
        assert "kfp.dsl.executor_main" in text, name


def test_every_parameter_with_default_type_and_description(default_spec):
    compiled = default_spec["root"]["inputDefinitions"]["parameters"]
    assert set(compiled) == {p.name for p in parameters.PARAMETERS}
    for p in parameters.PARAMETERS:
        entry = compiled[p.name]
        assert entry["parameterType"] == TYPES[p.type], p.name
        assert entry["description"] == p.description, p.name
        if p.type in (str, bool):
            assert entry["defaultValue"] == p.default, p.name
        else:
            assert float(entry["defaultValue"]) == float(p.default), p.name


def test_compiled_defaults_are_the_clusters_and_the_gate_is_strict(default_spec):
    """A cluster run searches production-size networks; only the quick preset picks small."""
    from components.blessing_rules import DEFAULT_RULES
    from components.search.space import SPACES
    from pipelines import run_local

    compiled = default_spec["root"]["inputDefinitions"]["parameters"]
    space = SPACES[compiled["search_space"]["defaultValue"]]
    assert min(space.image_size) >= 384 and space.base_preset == "d0"
    assert run_local.PRESETS["quick"]["search_space"] == "small"
    assert "search_space" not in run_local.PRESETS["full"]
    assert float(compiled["min_ap"]["defaultValue"]) == DEFAULT_RULES.min_ap > 0


def test_pipeline_signature_matches_parameter_table():
    fn = factory.make_pipeline(profile_lib.load()).pipeline_func
    signature = inspect.signature(fn)
    assert list(signature.parameters) == [p.name for p in parameters.PARAMETERS]
    for p in parameters.PARAMETERS:
        assert signature.parameters[p.name].default == p.default
        assert signature.parameters[p.name].annotation is p.type


def test_dag_stops_after_the_check_and_pushes_only_when_blessed(default_spec):
    tasks = default_spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"ingest-examples", "check-changes", "condition-1"}
    changed = tasks["condition-1"]
    assert changed["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--check-changes-Output'] == true"
    )
    assert "check-changes" in changed["dependentTasks"]
    inner = default_spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert set(inner) == {"search-architecture", "train-model", "evaluate-model", "condition-2"}
    condition = inner["condition-2"]
    assert condition["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--evaluate-model-Output'] == true"
    )
    assert "evaluate-model" in condition["dependentTasks"]
    blessed = default_spec["components"]["comp-condition-2"]["dag"]["tasks"]
    assert list(blessed) == ["push-model"]
    assert blessed["push-model"]["inputs"]["artifacts"]["evaluation"] == {
        "componentInputArtifact": "pipelinechannel--evaluate-model-evaluation"
    }
    # push records what the model was trained from: the check's output
    assert blessed["push-model"]["inputs"]["artifacts"]["changes"] == {
        "componentInputArtifact": "pipelinechannel--check-changes-changes"
    }
    check = default_spec["components"]["comp-check-changes"]
    assert check["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "BOOLEAN"
    assert check["outputDefinitions"]["artifacts"]["report"]["artifactType"]["schemaTitle"] == (
        "system.Markdown"
    )
    # it gets force, where production lives, and every parameter that shapes the model
    assert set(check["inputDefinitions"]["parameters"]) == {
        "force",
        "serving_root",
        "model_name",
        *parameters.MODEL_PARAMETERS,
    }
    check_inputs = tasks["check-changes"]["inputs"]["parameters"]
    for name in ("force", *parameters.MODEL_PARAMETERS):
        assert check_inputs[name] == {"componentInputParameter": name}, name
    evaluate_outputs = default_spec["components"]["comp-evaluate-model"]["outputDefinitions"]
    assert evaluate_outputs["parameters"]["Output"]["parameterType"] == "BOOLEAN"
    assert set(evaluate_outputs["artifacts"]) == {
        "evaluation",
        "metrics",
        "report",
        "report_html",
        "confusion_matrix",
    }
    assert evaluate_outputs["artifacts"]["confusion_matrix"]["artifactType"]["schemaTitle"] == (
        "system.ClassificationMetrics"
    )
    push_outputs = default_spec["components"]["comp-push-model"]["outputDefinitions"]
    assert push_outputs["artifacts"]["model_card"]["artifactType"]["schemaTitle"] == (
        "system.Markdown"
    )
    assert (
        evaluate_outputs["artifacts"]["report_html"]["artifactType"]["schemaTitle"] == "system.HTML"
    )
    assert evaluate_outputs["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == (
        "system.Metrics"
    )
    # caching is off: every step reads or writes outside its inputs (data, serving root)
    assert tasks["ingest-examples"]["cachingOptions"] == {}
    assert tasks["check-changes"]["cachingOptions"] == {}
    assert blessed["push-model"]["cachingOptions"] == {}


def test_example_profile_placement(example_spec):
    prof = profile_lib.load(str(EXAMPLE_PROFILE))
    assert example_spec["defaultPipelineRoot"] == "s3://ml-pipelines/nasdet"
    for step in GPU_STEPS:
        k8s = _k8s(example_spec, step)
        assert k8s["nodeSelector"]["labels"] == {"cloud.google.com/gke-nodepool": "gpu-pool"}
        assert k8s["tolerations"] == [
            {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}
        ]
        assert _executor(example_spec, step)["resources"]["accelerator"]["resourceCount"] == "1"
    for step in ("ingest", "changes", "push"):
        assert "nodeSelector" not in _k8s(example_spec, step)
        assert "tolerations" not in _k8s(example_spec, step)
    mounts = {
        step: [
            (m["constant"], m["mountPath"]) for m in _k8s(example_spec, step).get("pvcMount", [])
        ]
        for step in profile_lib.STEPS
    }
    assert mounts == {
        "ingest": [("nasdet-data", "/mnt/data")],
        "changes": [("nasdet-serving", "/mnt/serving")],
        "search": [("nasdet-serving", "/mnt/serving"), ("nasdet-work", "/mnt/work")],
        "train": [("nasdet-serving", "/mnt/serving"), ("nasdet-work", "/mnt/work")],
        "evaluate": [("nasdet-serving", "/mnt/serving")],
        "push": [("nasdet-serving", "/mnt/serving")],
    }
    for step in profile_lib.STEPS:
        (secret,) = _k8s(example_spec, step)["secretAsEnv"]
        assert secret["secretName"] == "object-store-credentials"
        assert {(k["secretKey"], k["envVar"]) for k in secret["keyToEnv"]} == {
            ("access-key", "AWS_ACCESS_KEY_ID"),
            ("secret-key", "AWS_SECRET_ACCESS_KEY"),
        }
        assert (
            _k8s(example_spec, step)["imagePullSecret"][0]["secretName"] == "registry-credentials"
        )
        assert _executor(example_spec, step)["image"] == prof.image


def test_default_profile_keeps_pushed_versions_and_checkpoints_on_volumes(default_spec):
    serving_root = parameters.DEFAULTS["serving_root"]
    mounts = {
        step: {
            (m["constant"], m["mountPath"]) for m in _k8s(default_spec, step).get("pvcMount", [])
        }
        for step in profile_lib.STEPS
    }
    serving = ("nasdet-serving", serving_root)
    work = ("nasdet-work", "/mnt/work")
    assert parameters.DEFAULTS["checkpoint_root"].startswith("/mnt/work/")
    assert mounts["search"] == mounts["train"] == {serving, work}
    assert mounts["changes"] == mounts["evaluate"] == mounts["push"] == {serving}
    assert mounts["ingest"] == set()


def test_search_and_train_are_retried_with_backoff(default_spec, example_spec):
    for spec in (default_spec, example_spec):
        tasks = dict(spec["root"]["dag"]["tasks"])
        for condition in ("condition-1", "condition-2"):
            nested = tasks[condition]["componentRef"]["name"]
            tasks.update(spec["components"][nested]["dag"]["tasks"])
        policies = {name: task.get("retryPolicy") for name, task in tasks.items()}
        for step in ("search", "train"):
            assert policies[factory.TASK_NAMES[step]] == {
                "backoffDuration": "60s",
                "backoffFactor": 2.0,
                "backoffMaxDuration": "3600s",
                "maxRetryCount": 3,
            }
        for step in ("ingest", "changes", "evaluate", "push"):
            assert policies[factory.TASK_NAMES[step]] is None


def test_the_run_id_keys_the_checkpoints(default_spec):
    for step in ("search", "train"):
        inner = default_spec["components"]["comp-condition-1"]["dag"]["tasks"]
        inputs = inner[factory.TASK_NAMES[step]]["inputs"]
        run_id = inputs["parameters"]["run_id"]["runtimeValue"]["constant"]
        assert run_id == "{{$.pipeline_job_uuid}}"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            "  evaluate: {}\n  push: {volumes: [serving]}\n",
            "the evaluate step uses serving_root /mnt/serving but mounts no volume there",
        ),
        (
            "  search: {volumes: [serving]}\n",
            "the search step uses checkpoint_root /mnt/work/checkpoints but mounts no volume",
        ),
        (  # a profile written before the check step: it says what to add
            "  changes: {}\n",
            "the changes step uses serving_root /mnt/serving but mounts no volume there, so "
            "what it writes would be lost with the pod: add volumes: [serving] to steps.changes",
        ),
    ],
)
def test_compile_refuses_a_step_without_the_volume_it_writes(tmp_path, capsys, steps, message):
    bad = tmp_path / "bad.yaml"
    volumes = (
        "volumes:\n  serving: {pvc: s, mount_path: /mnt/serving}\n"
        "  work: {pvc: w, mount_path: /mnt/work}\n"
    )
    full = "  changes: {volumes: [serving]}\n"
    full += "  search: {volumes: [serving, work]}\n  train: {volumes: [serving, work]}\n"
    full += "  evaluate: {volumes: [serving]}\n  push: {volumes: [serving]}\n"
    good = tmp_path / "good.yaml"
    good.write_text(f"image: x\n{volumes}steps:\n{full}")
    assert compile_cmd.main(["--output", str(tmp_path / "ok.yaml"), "--profile", str(good)]) == 0
    overrides = yaml.safe_load("steps:\n" + steps)["steps"]
    data = yaml.safe_load(good.read_text())
    data["steps"].update(overrides)
    bad.write_text(yaml.safe_dump(data))
    assert compile_cmd.main(["--output", str(tmp_path / "p.yaml"), "--profile", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: profile: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "p.yaml").exists()


def test_a_remote_serving_root_needs_no_volume():
    prof = profile_lib.from_dict({"image": "x"})
    profile_lib.check_path_volumes(prof, {"serving_root": ("gs://bucket/models", ("push",))})
    with pytest.raises(profile_lib.UserError, match="the push step uses serving_root"):
        profile_lib.check_path_volumes(prof, {"serving_root": ("/srv/models", ("push",))})


@pytest.mark.parametrize("name", ["serving-pvc.yaml", "work-pvc.yaml"])
def test_shipped_volume_claims_are_valid_and_named_as_the_profile_says(name):
    import kubernetes_validate

    manifest = yaml.safe_load((REPO / "deploy" / name).read_text())
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    prof = profile_lib.load()
    volume = name.split("-")[0]
    assert manifest["metadata"]["name"] == prof.volumes[volume].pvc
    assert "ReadWriteMany" in manifest["spec"]["accessModes"]


def test_image_option_overrides_profile(tmp_path):
    spec = _compile(tmp_path, extra=("--image", "registry.local/nasdet:test"))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"registry.local/nasdet:test"}


def test_default_profile_image_is_package_version():
    import importlib.metadata

    assert profile_lib.load().image == f"nasdet:{importlib.metadata.version('nasdet')}"


def test_golden_files_match():
    for name, profile_path in compile_cmd.GOLDEN.items():
        golden = pathlib.Path(compile_cmd.GOLDEN_DIR) / name
        out = pathlib.Path(compile_cmd.GOLDEN_DIR).parent / f".{name}.check"
        try:
            compile_cmd.compile_pipeline(str(out), profile_lib.load(profile_path))
            assert out.read_text() == golden.read_text(), (
                f"{golden} is out of date: if the change is intended, regenerate it with "
                "`python -m pipelines.compile_cmd --golden` and review the diff"
            )
        finally:
            out.unlink(missing_ok=True)


def test_compiling_imports_neither_tensorflow_nor_steps(tmp_path):
    code = (
        "import sys\n"
        "from pipelines.cli import main\n"
        f"assert main(['compile', '--output', {str(tmp_path / 'p.yaml')!r}]) == 0\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', "
        "'apache_beam') or m.startswith(('components.ingest', 'components.train', "
        "'components.search', 'components.evaluate', 'components.push'))]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.yaml").is_file()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image: x\nsteps:\n  train:\n    gpus: 1\n", "steps.train: unknown key 'gpus'"),
        ("image: x\nsteps:\n  deploy: {}\n", "unknown step 'deploy'"),
        ("image: x\nsteps:\n  train:\n    memory_request: lots\n", "invalid value 'lots'"),
        ("image: x\nsteps:\n  push:\n    volumes: [models]\n", "undefined volume 'models'"),
        ("image: x\nsteps:\n  push:\n    secrets: [s3]\n", "undefined secret 's3'"),
        ("steps: {}\n", "missing key 'image'"),
        ("image: x\nregion: eu\n", "unknown key 'region'"),
        ("- image\n", "expected a mapping"),
        ("image: [x\n", "cannot be read"),
        (
            "image: x\nsteps:\n  train:\n    accelerator_count: 2\n",
            "accelerator_count needs accelerator_type",
        ),
        (
            "image: x\nsteps:\n  train:\n    tolerations: [{key: a, operator: Maybe}]\n",
            "expected Equal or Exists",
        ),
        ("image: x\nvolumes:\n  data: {pvc: d, mount_path: rel}\n", "must be an absolute path"),
        (
            "image: x\nsteps:\n  train:\n    retry: {num_retries: 2, backoff_duration: soon}\n",
            "steps.train.retry.backoff_duration: invalid duration 'soon'",
        ),
        ("image: x\nsteps:\n  train:\n    retry: {num_retries: -1}\n", "expected an integer >= 0"),
    ],
)
def test_invalid_profile_one_line_exit_2(tmp_path, capsys, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert compile_cmd.main(["--output", str(tmp_path / "p.yaml"), "--profile", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: profile ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "p.yaml").exists()


def test_missing_profile_and_output_folder(tmp_path, capsys):
    assert compile_cmd.main(["--output", str(tmp_path / "p.yaml"), "--profile", "nope.yaml"]) == 2
    assert "profile nope.yaml does not exist" in capsys.readouterr().err
    assert compile_cmd.main(["--output", str(tmp_path / "no" / "p.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert compile_cmd.main([]) == 2
    assert "--output" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_plain_local_runs_are_not_retried():
    prof = profile_lib.load()
    assert {n for n, s in prof.steps.items() if s.retry} == {"search", "train"}
    local = prof.without_retries()
    assert all(s.retry is None for s in local.steps.values())
    assert local.steps["train"].volumes == prof.steps["train"].volumes  # nothing else changes
