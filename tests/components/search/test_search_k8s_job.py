"""The worker Job manifest validates against the Kubernetes schema and copies the chief's settings."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from components.search import distributed, k8s_job
from components.search.k8s_job import chief_pod_settings, worker_job_manifest
from components.search.tuners import SearchSpec

# Shaped like the pod KFP 2 (on Argo) runs a step in: Argo's `wait` sidecar first, the step in
# `main` behind KFP's launcher, KFP's scratch volumes, the service account token, and the
# profile's PVC and secret (kfp-kubernetes names the volume after the claim).
CHIEF_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "nasdet-x7k2p-system-container-impl-123", "uid": "1234-5678"},
    "spec": {
        "serviceAccountName": "pipeline-runner",
        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "imagePullSecrets": [{"name": "registry"}],
        "initContainers": [
            {"name": "init", "image": "quay.io/argoproj/argoexec:v3.5.14"},
            {"name": "kfp-launcher", "image": "ghcr.io/kubeflow/kfp-launcher:2.5.0"},
        ],
        "volumes": [
            {"name": "var-run-argo", "emptyDir": {}},
            {"name": "kfp-launcher", "emptyDir": {}},
            {"name": "gcs-scratch", "emptyDir": {}},
            {"name": "nasdet-work", "persistentVolumeClaim": {"claimName": "nasdet-work"}},
            {"name": "kube-api-access-abcde", "projected": {"sources": []}},
        ],
        "containers": [
            {
                "name": "wait",
                "image": "quay.io/argoproj/argoexec:v3.5.14",
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                "volumeMounts": [{"name": "var-run-argo", "mountPath": "/var/run/argo"}],
            },
            {
                "name": "main",
                "image": "registry.example.com/nasdet:1.0",
                "command": ["/kfp-launcher/launch", "--pipeline_name", "nasdet"],
                "resources": {
                    "limits": {"nvidia.com/gpu": "1", "memory": "16Gi"},
                    "requests": {"cpu": "4", "memory": "16Gi"},
                },
                "env": [
                    {"name": "AWS_REGION", "value": "eu-west-1"},
                    {
                        "name": "AWS_ACCESS_KEY_ID",
                        "valueFrom": {
                            "secretKeyRef": {
                                "name": "object-store-credentials",
                                "key": "access-key",
                            }
                        },
                    },
                    {
                        "name": "KFP_POD_NAME",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                    },
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                ],
                "volumeMounts": [
                    {"name": "kfp-launcher", "mountPath": "/kfp-launcher"},
                    {"name": "var-run-argo", "mountPath": "/var/run/argo"},
                    {"name": "gcs-scratch", "mountPath": "/gcs"},
                    {"name": "nasdet-work", "mountPath": "/mnt/work"},
                    {
                        "name": "kube-api-access-abcde",
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        "readOnly": True,
                    },
                ],
            },
        ],
    },
}


def _manifest(workers: int = 3) -> dict:
    spec = SearchSpec(
        examples_dir="/mnt/work/ck/1/search/examples", directory="/mnt/work/ck/1/search"
    )
    return worker_job_manifest(
        name="nasdet-search-0001",
        namespace="kubeflow",
        num_workers=workers,
        chief_ip="10.0.0.7",
        chief_port=8000,
        spec_json=spec.to_json(),
        owner_pod={"name": CHIEF_POD["metadata"]["name"], "uid": "1234-5678"},
        **chief_pod_settings(CHIEF_POD),
    )


def test_job_manifest_validates_against_the_kubernetes_schema():
    manifest = _manifest()
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def test_job_manifest_copies_the_main_container_not_argos_sidecar():
    manifest = _manifest(workers=3)
    job = manifest["spec"]
    assert (job["completions"], job["parallelism"], job["completionMode"]) == (3, 3, "Indexed")
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    main = CHIEF_POD["spec"]["containers"][1]
    assert container["image"] == main["image"] == "registry.example.com/nasdet:1.0"
    assert container["resources"] == main["resources"]  # the GPU request included
    assert container["command"] == ["python", "-m", "components.search.distributed"]
    assert pod["nodeSelector"] == CHIEF_POD["spec"]["nodeSelector"]
    assert pod["tolerations"] == CHIEF_POD["spec"]["tolerations"]
    # The work volume (where the examples and the tuner project are shared) and KFP's scratch;
    # not Argo's or the launcher's plumbing, nor the chief's service account token.
    assert [v["name"] for v in pod["volumes"]] == ["gcs-scratch", "nasdet-work"]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/gcs", "/mnt/work"}
    env = {e["name"]: e for e in container["env"]}
    assert env["KERASTUNER_ORACLE_IP"]["value"] == "10.0.0.7"
    assert env["KERASTUNER_ORACLE_PORT"]["value"] == "8000"
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["key"] == "access-key"
    assert "POD_IP" not in env and "KFP_POD_NAME" not in env  # the chief's own pod fields
    spec = SearchSpec.from_json(container["args"][container["args"].index("--spec-json") + 1])
    assert spec.examples_dir == "/mnt/work/ck/1/search/examples"
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "1234-5678"
    assert pod["serviceAccountName"] == "pipeline-runner"
    json.dumps(manifest)  # plain data


def test_main_container_of_a_plain_pod_and_an_ambiguous_one():
    plain = {"containers": [{"name": "search", "image": "x"}]}
    assert k8s_job.main_container(plain)["name"] == "search"
    with pytest.raises(ValueError, match="cannot tell the step's container"):
        k8s_job.main_container({"containers": [{"name": "a"}, {"name": "b"}]})


def test_examples_are_shared_through_the_work_volume(tmp_path, monkeypatch):
    """KFP downloads input artifacts into the chief's pod only: the workers get a copy on the
    PVC both mount. A work folder on the pod's own disk is refused."""
    from components.errors import UserError

    examples = tmp_path / "chief-only" / "examples"
    (examples / "Split-train").mkdir(parents=True)
    (examples / "labels.json").write_text("{}")
    work = tmp_path / "mnt" / "work" / "ck" / "1" / "search"
    pod = json.loads(json.dumps(CHIEF_POD))
    pod["spec"]["containers"][1]["volumeMounts"][3]["mountPath"] = str(tmp_path / "mnt" / "work")
    spec = SearchSpec(examples_dir=str(examples), directory=str(work))
    shared = distributed.share_examples(spec, pod)
    assert shared.examples_dir == str(work / "examples")
    assert (work / "examples" / "labels.json").is_file()
    assert distributed.share_examples(shared, pod) == shared  # a resumed search: no new copy
    assert k8s_job.shared_claim(pod, str(work)) == "nasdet-work"
    local_disk = SearchSpec(examples_dir=str(examples), directory="/tmp/search.work")
    with pytest.raises(UserError, match="worker pods cannot see the search's work folder"):
        distributed.share_examples(local_disk, pod)


def test_the_shipped_rbac_grants_what_the_search_pod_calls():
    import pathlib

    import yaml

    path = pathlib.Path(__file__).resolve().parents[3] / "deploy" / "search-workers-rbac.yaml"
    role, binding = list(yaml.safe_load_all(path.read_text()))
    for manifest in (role, binding):
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    verbs = {
        (r["apiGroups"][0], res): set(r["verbs"]) for r in role["rules"] for res in r["resources"]
    }
    # KubernetesWorkers: read_namespaced_pod, create/read_status/delete_namespaced_job
    assert "get" in verbs[("", "pods")]
    assert {"create", "get", "delete"} <= verbs[("batch", "jobs")]
    assert "get" in verbs[("batch", "jobs/status")]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == CHIEF_POD["spec"]["serviceAccountName"]


def test_schema_rejects_a_broken_manifest():
    manifest = _manifest()
    manifest["spec"]["completions"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def test_zero_workers_is_refused():
    with pytest.raises(ValueError):
        _manifest(workers=0)


def _kfp_pod_for(compiled_yaml, executor: str) -> dict:
    """The pod KFP's driver makes for ``executor`` of a compiled pipeline (the fields that
    matter here): Argo's sidecar, the step in ``main`` with the compiled image, resources and
    GPU, and a PVC volume per ``pvcMount`` of the platform spec."""
    import yaml

    pipeline, platform = list(yaml.safe_load_all(compiled_yaml.read_text()))[:2]
    container = pipeline["deploymentSpec"]["executors"][executor]["container"]
    res = container["resources"]
    limits = {res["accelerator"]["resourceType"]: res["accelerator"]["resourceCount"]}
    requests = {"cpu": res["resourceCpuRequest"], "memory": res["resourceMemoryRequest"]}
    mounts = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][executor]
    volumes = [
        {"name": m["constant"], "persistentVolumeClaim": {"claimName": m["constant"]}}
        for m in mounts["pvcMount"]
    ]
    main = {
        "name": "main",
        "image": container["image"],
        "resources": {"limits": limits, "requests": requests},
        "volumeMounts": [
            {"name": m["constant"], "mountPath": m["mountPath"]} for m in mounts["pvcMount"]
        ]
        + [{"name": "var-run-argo", "mountPath": "/var/run/argo"}],
    }
    wait = {"name": "wait", "image": "quay.io/argoproj/argoexec:v3.5.14"}
    return {
        "metadata": {"name": "chief", "uid": "u"},
        "spec": {
            "containers": [wait, main],
            "volumes": [*volumes, {"name": "var-run-argo", "emptyDir": {}}],
        },
    }


def test_worker_job_of_the_compiled_pipeline_matches_the_search_step():
    """From the compiled default pipeline: the workers run the search step's image with its
    resources, GPU and volumes, and see the work folder checkpoint_root puts on a PVC."""
    import pathlib

    from pipelines import parameters

    golden = pathlib.Path(__file__).resolve().parents[3] / "pipelines" / "golden"
    pod = _kfp_pod_for(golden / "nasdet-default.yaml", "exec-search-architecture")
    main = pod["spec"]["containers"][1]
    work = parameters.DEFAULTS["checkpoint_root"] + "/run-1/search"
    assert k8s_job.shared_claim(pod, work) == "nasdet-work"
    spec = SearchSpec(examples_dir=work + "/examples", directory=work)
    manifest = worker_job_manifest(
        name="w",
        namespace="kubeflow",
        num_workers=2,
        chief_ip="10.0.0.7",
        chief_port=8000,
        spec_json=spec.to_json(),
        **chief_pod_settings(pod),
    )
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    worker = manifest["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    assert container["image"] == main["image"] == "nasdet:0.1.0"
    assert container["resources"] == main["resources"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert [v["persistentVolumeClaim"]["claimName"] for v in worker["volumes"]] == [
        "nasdet-serving",
        "nasdet-work",
    ]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/mnt/serving", "/mnt/work"]
