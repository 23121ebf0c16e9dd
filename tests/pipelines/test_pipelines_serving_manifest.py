"""``nasdet serving-manifest`` and the profile's serving section: defaults, refusals, the
command's output and one-line errors, the options the push task gets in its environment."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from components.errors import UserError
from components.serve import manifest
from pipelines import profile as profile_lib
from pipelines import serving_manifest

REPO = pathlib.Path(__file__).resolve().parents[2]
VOLUMES = {"serving": {"pvc": "nasdet-serving", "mount_path": "/mnt/serving"}}


def _profile(serving=None, **extra) -> profile_lib.Profile:
    data = {"image": "x", "volumes": VOLUMES, **extra}
    if serving is not None:
        data["serving"] = serving
    return profile_lib.from_dict(data, "profile my.yaml")


def test_without_a_serving_section_the_defaults_apply():
    assert _profile().serving == profile_lib.ServingSettings()
    assert _profile(serving={}).serving == _profile(serving=None).serving
    defaults = profile_lib.ServingSettings()
    assert defaults.runtime_version == manifest.RUNTIME_VERSION
    assert (defaults.cpu_request, defaults.memory_request) == ("1", "2Gi")


def test_the_serving_section_reaches_the_manifest():
    prof = _profile(
        serving={
            "namespace": "ml-team",
            "service_account": "kserve-storage",
            "cpu_request": 2,  # a number, as YAML reads `cpu_request: 2`
            "memory_limit": "8Gi",
            "accelerator_type": "nvidia.com/gpu",
            "accelerator_count": 1,
            "node_selector": {"pool": "gpu"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "toleration_seconds": 60}
            ],
            "min_replicas": 0,
            "max_replicas": 2,
        }
    )
    service = serving_manifest.build(prof, "/mnt/serving/models", "det")
    assert service["metadata"] == {"name": "det", "namespace": "ml-team"}
    predictor = service["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == "pvc://nasdet-serving/models/det"
    assert predictor["model"]["runtimeVersion"] == manifest.RUNTIME_VERSION + "-gpu"
    assert predictor["model"]["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
    }
    assert predictor["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "tolerationSeconds": 60}
    ]
    assert predictor["nodeSelector"] == {"pool": "gpu"}
    assert predictor["serviceAccountName"] == "kserve-storage"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 2)
    # --namespace and --name win over the profile
    other = serving_manifest.build(prof, "gs://b/serving", "det", name="det-canary", namespace="qa")
    assert other["metadata"] == {"name": "det-canary", "namespace": "qa"}
    assert other["spec"]["predictor"]["model"]["storageUri"] == "gs://b/serving/det"


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        ({"replicas": 2}, "serving: unknown key 'replicas'"),
        ({"cpu_request": "lots"}, "serving.cpu_request: invalid value 'lots'"),
        ({"namespace": "ML_team"}, "serving.namespace: invalid value 'ML_team'"),
        ({"service_account": "Bad Name"}, "serving.service_account: invalid value"),
        ({"runtime_version": "2.21 gpu"}, "serving.runtime_version: invalid value"),
        ({"min_replicas": -1}, "serving.min_replicas: expected an integer >= 0"),
        ({"min_replicas": 3, "max_replicas": 2}, "serving.max_replicas: expected an integer >= 3"),
        ({"accelerator_count": 1}, "accelerator_count needs accelerator_type"),
        ({"tolerations": [{"key": "a", "operator": "Maybe"}]}, "expected Equal or Exists"),
        ({"node_selector": ["pool"]}, "serving.node_selector: expected a mapping"),
    ],
)
def test_a_bad_serving_section_is_one_line_naming_the_key(serving, message):
    with pytest.raises(UserError) as err:
        _profile(serving=serving)
    text = str(err.value)
    assert text.startswith("profile my.yaml: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("/srv/models", "det"),
            "the serving root /srv/models is on none of the profile's volumes",
        ),
        (("/mnt/serving", "a/b"), "invalid model name 'a/b'"),
        (("/mnt/serving", "det", "Det"), "--name 'Det' is not a valid InferenceService name"),
        (("/mnt/serving", "det", None, "QA"), "--namespace 'QA' is not a valid"),
    ],
)
def test_build_refuses_what_kserve_could_not_serve(args, message):
    with pytest.raises(UserError, match=message):
        serving_manifest.build(_profile(), *args)


def test_the_push_task_gets_the_options_of_its_own_volumes():
    prof = profile_lib.load(str(REPO / "pipelines" / "profiles" / "gpu-node-pool.yaml"))
    env = serving_manifest.push_environment(prof)
    options = serving_manifest.options_from_environment(env)
    assert options == serving_manifest.serving_options(prof, prof.step("push").volumes)
    assert options.claims == {"/mnt/serving": "nasdet-serving"}  # push mounts serving only
    assert (options.cpu_request, options.max_replicas) == ("2", 3)
    assert serving_manifest.options_from_environment({}) is None


def test_the_compiled_push_task_carries_them():
    golden = REPO / "pipelines" / "golden" / "nasdet-default.yaml"
    spec = next(yaml.safe_load_all(golden.read_text()))
    container = spec["deploymentSpec"]["executors"]["exec-push-model"]["container"]
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    assert env == serving_manifest.push_environment(profile_lib.load())
    for name, executor in spec["deploymentSpec"]["executors"].items():
        if name != "exec-push-model":
            assert serving_manifest.ENV not in str(executor), name


def test_command_prints_or_writes_the_yaml(tmp_path, capsys):
    assert serving_manifest.main([]) == 0
    service = yaml.safe_load(capsys.readouterr().out)
    assert service == serving_manifest.build(profile_lib.load(), "/mnt/serving", "nasdet")
    out = tmp_path / "isvc" / "det.yaml"
    argv = ["--serving-root", "s3://bucket/serving", "--model-name", "det", "-o", str(out)]
    assert serving_manifest.main([*argv, "--namespace", "ml-team"]) == 0
    assert f"to {out}" in capsys.readouterr().out
    written = yaml.safe_load(out.read_text())
    assert written["metadata"] == {"name": "det", "namespace": "ml-team"}
    assert written["spec"]["predictor"]["model"]["storageUri"] == "s3://bucket/serving/det"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--serving-root", "/tmp/serving"], "error: the serving root /tmp/serving is on none"),
        (["--name", "Bad_Name"], "error: --name 'Bad_Name' is not a valid InferenceService name"),
        (["--profile", "/nonexistent.yaml"], "error: profile /nonexistent.yaml does not exist"),
        (["--replicas", "2"], "error: unrecognized arguments: --replicas 2"),
    ],
)
def test_command_errors_are_one_line_with_status_2(argv, message, capsys):
    assert serving_manifest.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1
    assert captured.out == ""


def test_registered_as_a_nasdet_command(capsys):
    from pipelines import cli

    assert cli.main(["serving-manifest", "--model-name", "det"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["metadata"]["name"] == "det"
