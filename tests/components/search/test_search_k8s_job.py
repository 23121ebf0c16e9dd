"""The worker Job manifest validates against the Kubernetes schema and copies the chief's settings."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from components.search.k8s_job import chief_pod_settings, worker_job_manifest
from components.search.tuners import SearchSpec

CHIEF_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "search-abc", "uid": "1234-5678"},
    "spec": {
        "serviceAccountName": "pipeline-runner",
        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "imagePullSecrets": [{"name": "registry"}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "nasdet-data"}}],
        "containers": [
            {
                "name": "main",
                "image": "registry.example.com/nasdet:1.0",
                "resources": {
                    "limits": {"nvidia.com/gpu": "1", "memory": "16Gi"},
                    "requests": {"cpu": "4", "memory": "16Gi"},
                },
                "env": [
                    {"name": "AWS_REGION", "value": "eu-west-1"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                ],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
    },
}


def _manifest(workers: int = 3) -> dict:
    spec = SearchSpec(examples_dir="gs://bucket/examples", directory="/data/search.work")
    return worker_job_manifest(
        name="nasdet-search-0001",
        namespace="kubeflow",
        num_workers=workers,
        chief_ip="10.0.0.7",
        chief_port=8000,
        spec_json=spec.to_json(),
        owner_pod={"name": "search-abc", "uid": "1234-5678"},
        **chief_pod_settings(CHIEF_POD),
    )


def test_job_manifest_validates_against_the_kubernetes_schema():
    manifest = _manifest()
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def test_job_manifest_copies_chief_settings_and_points_at_chief():
    manifest = _manifest(workers=3)
    job = manifest["spec"]
    assert (job["completions"], job["parallelism"], job["completionMode"]) == (3, 3, "Indexed")
    pod = job["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example.com/nasdet:1.0"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == CHIEF_POD["spec"]["nodeSelector"]
    assert pod["tolerations"] == CHIEF_POD["spec"]["tolerations"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "nasdet-data"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KERASTUNER_ORACLE_IP"] == "10.0.0.7"
    assert env["KERASTUNER_ORACLE_PORT"] == "8000"
    assert env["AWS_REGION"] == "eu-west-1"
    assert "POD_IP" not in env  # the chief's own downward-API values are not copied
    spec = SearchSpec.from_json(container["args"][container["args"].index("--spec-json") + 1])
    assert spec.examples_dir == "gs://bucket/examples"
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "1234-5678"
    json.dumps(manifest)  # plain data


def test_schema_rejects_a_broken_manifest():
    manifest = _manifest()
    manifest["spec"]["completions"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def test_zero_workers_is_refused():
    with pytest.raises(ValueError):
        _manifest(workers=0)
