"""The KServe InferenceService manifest: KServe's CRD schema (vendored, offline), storage URIs,
names, the options' JSON, the file written beside the versions."""

from __future__ import annotations

import pathlib

import jsonschema
import pytest
import yaml

from components.errors import UserError
from components.serve import manifest
from components.serve.manifest import ServingOptions

SCHEMA_FILE = pathlib.Path(__file__).with_name("inferenceservice_v1beta1_schema.yaml")
PROFILES = pathlib.Path(__file__).resolve().parents[3] / "pipelines" / "profiles"


def _strict(schema: dict) -> dict:
    """``schema`` refusing fields it does not name, as kubectl's strict field validation does
    (the CRD's own schema leaves that to the API server)."""
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _strict(schema[key])
    return schema


VALIDATOR = jsonschema.Draft7Validator(_strict(yaml.safe_load(SCHEMA_FILE.read_text())))


def problems(service: dict) -> list[str]:
    """Why KServe's schema refuses ``service`` (empty when it accepts it); also its kind and
    name, which the CRD schema leaves to the API server and KServe's webhook."""
    found = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in VALIDATOR.iter_errors(service)
    ]
    if (service.get("apiVersion"), service.get("kind")) != (manifest.API_VERSION, manifest.KIND):
        found.append("not a serving.kserve.io/v1beta1 InferenceService")
    name = service.get("metadata", {}).get("name", "")
    if not manifest.NAME_PATTERN.match(name) or len(name) > manifest.MAX_NAME_LENGTH:
        found.append(f"metadata.name: {name!r} is not a valid InferenceService name")
    return found


FULL = ServingOptions(
    claims={"/mnt/serving": "nasdet-serving"},
    namespace="ml-team",
    service_account="kserve-storage",
    cpu_request="2",
    cpu_limit="4",
    memory_request="4Gi",
    accelerator_type="nvidia.com/gpu",
    accelerator_count=1,
    node_selector={"cloud.google.com/gke-nodepool": "gpu-pool"},
    tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
    min_replicas=0,
    max_replicas=3,
)


def test_the_default_manifest_is_a_valid_tf_serving_inference_service():
    service = manifest.inference_service("det", "pvc://nasdet-serving/det", ServingOptions())
    assert problems(service) == []
    assert service["metadata"] == {"name": "det"}
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "tensorflow"
    assert model["storageUri"] == "pvc://nasdet-serving/det"
    assert model["runtimeVersion"] == manifest.RUNTIME_VERSION
    # a request without a limit is also the limit (KServe's runtime would keep 1 CPU, 2Gi)
    assert model["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert service["spec"]["predictor"]["minReplicas"] == 1
    assert yaml.safe_load(manifest.to_yaml(service)) == service


def test_every_option_lands_where_kserve_reads_it():
    service = manifest.inference_service("det", "gs://bucket/serving/det", FULL)
    assert problems(service) == []
    assert service["metadata"] == {"name": "det", "namespace": "ml-team"}
    predictor = service["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "kserve-storage"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 3)
    assert predictor["nodeSelector"] == {"cloud.google.com/gke-nodepool": "gpu-pool"}
    assert predictor["tolerations"] == [dict(FULL.tolerations[0])]
    model = predictor["model"]
    # with a runtime version KServe adds no -gpu itself: TF Serving's CUDA image is asked for
    assert model["runtimeVersion"] == manifest.RUNTIME_VERSION + "-gpu"
    assert model["resources"]["limits"] == {"cpu": "4", "memory": "4Gi", "nvidia.com/gpu": "1"}
    assert model["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}


def test_no_runtime_version_keeps_the_clusters_runtime_image():
    service = manifest.inference_service(
        "det", "s3://b/det", ServingOptions(runtime_version=None, cpu_request=None)
    )
    assert problems(service) == []
    assert "runtimeVersion" not in service["spec"]["predictor"]["model"]
    assert service["spec"]["predictor"]["model"]["resources"] == {
        "requests": {"memory": "2Gi"},
        "limits": {"memory": "2Gi"},
    }


def _broken(edit) -> dict:
    service = manifest.inference_service("det", "pvc://nasdet-serving/det", FULL)
    edit(service["spec"]["predictor"])
    return service


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda p: p.update(minReplicas="one"), "spec.predictor.minReplicas"),
        (lambda p: p.update(replicas=2), "spec.predictor"),  # no such field
        (lambda p: p.update(tolerations={"key": "x"}), "spec.predictor.tolerations"),
        (lambda p: p["model"]["modelFormat"].pop("name"), "spec.predictor.model.modelFormat"),
        (lambda p: p["model"].update(storageUri=["pvc://x"]), "spec.predictor.model.storageUri"),
        (
            lambda p: p["model"]["resources"]["limits"].update(memory="lots"),
            "spec.predictor.model.resources.limits.memory",
        ),
        (lambda p: p["nodeSelector"].update(pool=1), "spec.predictor.nodeSelector.pool"),
    ],
)
def test_a_broken_manifest_is_refused_by_the_schema(edit, where):
    found = problems(_broken(edit))
    assert found and all(line.startswith(where) for line in found), found


def test_wrong_kind_and_name_are_refused():
    service = manifest.inference_service("Det_1", "pvc://c/det", ServingOptions())
    service["kind"] = "Deployment"
    assert len(problems(service)) == 2


@pytest.mark.parametrize(
    ("root", "claims", "expected"),
    [
        ("gs://bucket/serving/", {}, "gs://bucket/serving/det"),
        ("s3://bucket/serving", {"/mnt/serving": "c"}, "s3://bucket/serving/det"),
        ("/mnt/serving", {"/mnt/serving": "nasdet-serving"}, "pvc://nasdet-serving/det"),
        ("/mnt/serving/team/a/", {"/mnt/serving/": "c"}, "pvc://c/team/a/det"),
        ("/mnt/serving/x", {"/mnt": "outer", "/mnt/serving": "inner"}, "pvc://inner/x/det"),
        ("/mnt/serving2", {"/mnt/serving": "c"}, None),
        ("/tmp/serving", {}, None),
    ],
)
def test_storage_uri(root, claims, expected):
    assert manifest.storage_uri(root, "det", claims) == expected


@pytest.mark.parametrize(
    ("model_name", "expected"),
    [
        ("nasdet", "nasdet"),
        ("My_Detector.v2", "my-detector-v2"),
        ("2-det-", "det"),
        ("___", "nasdet"),
        ("a" * 80, "a" * 63),
    ],
)
def test_default_name_is_a_valid_name(model_name, expected):
    assert manifest.default_name(model_name) == expected
    assert manifest.check_name(expected) == expected


@pytest.mark.parametrize("name", ["Det", "det_1", "-det", "det-", "1det", "a" * 64, ""])
def test_invalid_names_and_namespaces_are_one_line_errors(name):
    with pytest.raises(UserError, match="not a valid InferenceService name"):
        manifest.check_name(name, "--name")
    if name and not name[0].isdigit():
        with pytest.raises(UserError, match="not a valid Kubernetes namespace"):
            manifest.check_namespace(name)


def test_options_travel_as_json():
    assert ServingOptions.from_json(FULL.to_json()) == FULL
    assert ServingOptions.from_json(ServingOptions().to_json()) == ServingOptions()
    for text in ("[]", "{", '{"replicas": 2}'):
        with pytest.raises(UserError, match="invalid InferenceService options"):
            ServingOptions.from_json(text)


def test_written_beside_the_versions_on_a_pvc(tmp_path):
    root = tmp_path / "serving"
    options = ServingOptions(claims={str(tmp_path): "nasdet-serving"})
    path = manifest.write_beside_versions(str(root), "det", options)
    assert path == str(root / "det" / "inferenceservice.yaml")
    text = (root / "det" / "inferenceservice.yaml").read_text()
    assert text.startswith("# The KServe InferenceService 'det' serving the versions")
    assert "kubectl apply -n NAMESPACE -f inferenceservice.yaml" in text
    service = yaml.safe_load(text)
    assert problems(service) == []
    assert service["spec"]["predictor"]["model"]["storageUri"] == "pvc://nasdet-serving/serving/det"


def test_not_written_where_no_server_could_read_it(tmp_path):
    assert manifest.write_beside_versions(str(tmp_path), "det") is None
    assert list(tmp_path.iterdir()) == []


def test_written_on_an_object_store(object_store):
    options = ServingOptions(namespace="ml-team")
    path = manifest.write_beside_versions("memstore://bucket/serving", "det", options)
    assert path == "memstore://bucket/serving/det/inferenceservice.yaml"
    text = object_store[path].decode()
    assert "kubectl apply -f inferenceservice.yaml" in text
    service = yaml.safe_load(text)
    assert problems(service) == []
    assert service["spec"]["predictor"]["model"]["storageUri"] == "memstore://bucket/serving/det"


@pytest.mark.parametrize("profile_file", sorted(p.name for p in PROFILES.glob("*.yaml")))
def test_the_shipped_profiles_give_valid_manifests(profile_file):
    from pipelines import profile, serving_manifest

    loaded = profile.load(str(PROFILES / profile_file))
    service = serving_manifest.build(loaded, "/mnt/serving", "nasdet")
    assert problems(service) == []
    assert service["spec"]["predictor"]["model"]["storageUri"] == "pvc://nasdet-serving/nasdet"
