"""Worker pods on Kubernetes: the Job manifest for N search workers, and its lifecycle.

When the search step runs inside a cluster with ``workers > 0``, its own pod is the chief
(the KerasTuner oracle over gRPC) and it starts the workers as one Kubernetes Job of N pods
(indexed completions: pod i is tuner ``worker<i>``) from the same image, with the same GPU and
CPU/memory settings, node selector, tolerations, volumes and pull secrets as the chief's own pod,
pointed at the chief's pod IP. The Job is owned by the chief pod (deleted with it) and deleted
by the step when the search ends.

The manifest is built by a pure function (tested offline against the Kubernetes schema); the
``kubernetes`` client is imported only when a cluster is actually used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
WORKER_CONTAINER = "search-worker"


def in_cluster() -> bool:
    """Return True when running inside a Kubernetes pod with a service account mounted."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.isdir(SERVICE_ACCOUNT_DIR)


def worker_job_manifest(
    *,
    name: str,
    namespace: str,
    image: str,
    num_workers: int,
    chief_ip: str,
    chief_port: int,
    spec_json: str,
    resources: Mapping | None = None,
    env: Sequence[Mapping] = (),
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping] = (),
    volumes: Sequence[Mapping] = (),
    volume_mounts: Sequence[Mapping] = (),
    image_pull_secrets: Sequence[Mapping] = (),
    service_account: str | None = None,
    owner_pod: Mapping[str, str] | None = None,
    backoff_limit: int = 2,
    ttl_seconds: int = 3600,
) -> dict:
    """Return the batch/v1 Job manifest (a plain dict) for ``num_workers`` search worker pods.

    Each pod runs ``python -m components.search.distributed --spec-json SPEC`` with the KerasTuner
    environment (``KERASTUNER_ORACLE_IP``/``PORT`` = the chief; the tuner id is derived from the
    Job completion index, so a restarted pod resumes its own trial). ``resources``, ``env``,
    ``node_selector``, ``tolerations``, ``volumes``/``volume_mounts``, ``image_pull_secrets`` and
    ``service_account`` are copied from the chief pod by :func:`chief_pod_settings`.
    ``owner_pod`` (``name`` and ``uid``) makes the chief pod the Job's owner.
    """
    if num_workers < 1:
        raise ValueError("a worker Job needs at least one worker")
    worker_env = [dict(item) for item in env if item.get("name", "").find("KERASTUNER_") != 0]
    worker_env += [
        {"name": "KERASTUNER_ORACLE_IP", "value": chief_ip},
        {"name": "KERASTUNER_ORACLE_PORT", "value": str(chief_port)},
        {"name": "NASDET_SEARCH_ROLE", "value": "worker"},
    ]
    container: dict = {
        "name": WORKER_CONTAINER,
        "image": image,
        "command": ["python", "-m", "components.search.distributed"],
        "args": ["--spec-json", spec_json],
        "env": worker_env,
    }
    if resources:
        container["resources"] = {k: dict(v) for k, v in resources.items() if v}
    if volume_mounts:
        container["volumeMounts"] = [dict(m) for m in volume_mounts]
    pod_spec: dict = {"restartPolicy": "Never", "containers": [container]}
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        pod_spec["tolerations"] = [dict(t) for t in tolerations]
    if volumes:
        pod_spec["volumes"] = [dict(v) for v in volumes]
    if image_pull_secrets:
        pod_spec["imagePullSecrets"] = [dict(s) for s in image_pull_secrets]
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    metadata: dict = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/name": "nasdet", "app.kubernetes.io/component": "search"},
    }
    if owner_pod:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": owner_pod["name"],
                "uid": owner_pod["uid"],
                "blockOwnerDeletion": False,
            }
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completions": num_workers,
            "parallelism": num_workers,
            "completionMode": "Indexed",
            "backoffLimit": backoff_limit,
            "ttlSecondsAfterFinished": ttl_seconds,
            "template": {
                "metadata": {"labels": dict(metadata["labels"])},
                "spec": pod_spec,
            },
        },
    }


# KFP (on Argo) runs the step in the container ``main``, beside Argo's ``wait`` sidecar.
MAIN_CONTAINER = "main"
SIDECARS = ("wait",)
# The chief pod's volumes the workers do not need: Argo's and KFP's launcher plumbing (a
# worker runs python directly) and the service account token (Kubernetes injects its own).
SKIPPED_VOLUMES = ("var-run-argo", "kfp-launcher")


def main_container(pod_spec: Mapping) -> dict:
    """The container running the step: ``main`` (KFP on Argo), else the only non-sidecar one.

    Raises ValueError when the pod has several candidate containers and none is ``main``.
    """
    containers = list(pod_spec.get("containers") or [])
    for container in containers:
        if container.get("name") == MAIN_CONTAINER:
            return dict(container)
    candidates = [c for c in containers if c.get("name") not in SIDECARS]
    if len(candidates) != 1:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise ValueError(f"cannot tell the step's container in the pod (containers: {names})")
    return dict(candidates[0])


def _copied_env(item: Mapping) -> bool:
    """Plain values and Secret / ConfigMap references; not the chief's downward-API fields."""
    source = item.get("valueFrom") or {}
    return "value" in item or "secretKeyRef" in source or "configMapKeyRef" in source


def chief_pod_settings(pod: Mapping) -> dict:
    """Return the worker settings copied from the chief pod (a pod manifest as a dict).

    Takes the step container's (:func:`main_container`) image, resources, environment (plain
    values and Secret / ConfigMap references) and volume mounts with their volumes (not
    Argo's, KFP's launcher's or the service account token), and the pod's node selector,
    tolerations, pull secrets and service account; returns them as keyword arguments of
    :func:`worker_job_manifest`.
    """
    spec = pod.get("spec") or {}
    container = main_container(spec)
    mounts = [
        dict(m)
        for m in container.get("volumeMounts") or []
        if m.get("name") not in SKIPPED_VOLUMES
        and not str(m.get("mountPath", "")).startswith(SERVICE_ACCOUNT_DIR)
    ]
    mounted = {m.get("name") for m in mounts}
    return {
        "image": container.get("image"),
        "resources": container.get("resources") or None,
        "env": [dict(e) for e in container.get("env") or [] if _copied_env(e)],
        "volume_mounts": mounts,
        "node_selector": spec.get("nodeSelector") or None,
        "tolerations": spec.get("tolerations") or [],
        "volumes": [dict(v) for v in spec.get("volumes") or [] if v.get("name") in mounted],
        "image_pull_secrets": spec.get("imagePullSecrets") or [],
        "service_account": spec.get("serviceAccountName"),
    }


def shared_claim(pod: Mapping, path: str) -> str | None:
    """The PersistentVolumeClaim the step container mounts at or above ``path``, if any.

    Worker pods mount the same claims, so a folder on it is the one place chief and workers
    both see (the chief's input artifacts are downloaded into its own pod only).
    """
    spec = pod.get("spec") or {}
    claims = {
        v.get("name"): (v.get("persistentVolumeClaim") or {}).get("claimName")
        for v in spec.get("volumes") or []
    }
    best: tuple[int, str] | None = None
    for mount in main_container(spec).get("volumeMounts") or []:
        root = str(mount.get("mountPath", "")).rstrip("/")
        claim = claims.get(mount.get("name"))
        covers = path == root or path.startswith(root + "/")
        if claim and covers and (best is None or len(root) > best[0]):
            best = (len(root), claim)
    return best[1] if best else None


class KubernetesWorkers:
    """The worker Job of a search running in a cluster: read the chief pod, create, poll, delete.

    Needs the ``kubernetes`` Python client and RBAC to read its own pod and to create, read and
    delete Jobs in its namespace (``deploy/search-workers-rbac.yaml``).
    """

    def __init__(self, num_workers: int, job_name: str) -> None:
        """Read the chief pod (``POD_NAME`` or ``HOSTNAME``) of this namespace."""
        from kubernetes import client, config  # optional dependency: only inside a cluster

        config.load_incluster_config()
        self._core = client.CoreV1Api()
        self._batch = client.BatchV1Api()
        with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace")) as f:
            self.namespace = f.read().strip()
        pod_name = os.environ.get("POD_NAME") or os.environ["HOSTNAME"]
        pod = self._core.read_namespaced_pod(pod_name, self.namespace)
        self.pod: dict = client.ApiClient().sanitize_for_serialization(pod)
        self.pod_ip = os.environ.get("POD_IP") or pod.status.pod_ip
        self.num_workers = num_workers
        self.name = job_name
        self.manifest: dict | None = None

    def start(self, chief_port: int, spec_json: str) -> None:
        """Create the Job of workers pointed at this pod's ``chief_port``."""
        metadata = self.pod.get("metadata") or {}
        self.manifest = worker_job_manifest(
            name=self.name,
            namespace=self.namespace,
            num_workers=self.num_workers,
            chief_ip=self.pod_ip,
            chief_port=chief_port,
            spec_json=spec_json,
            owner_pod={"name": metadata.get("name"), "uid": metadata.get("uid")},
            **chief_pod_settings(self.pod),
        )
        self._batch.create_namespaced_job(self.namespace, self.manifest)

    def finished(self) -> tuple[bool, int, int]:
        """Return (all pods done, succeeded count, failed count) for the Job."""
        status = self._batch.read_namespaced_job_status(self.name, self.namespace).status
        succeeded, failed = status.succeeded or 0, status.failed or 0
        done = any(
            c.type in ("Complete", "Failed") and c.status == "True" for c in status.conditions or []
        )
        return done, succeeded, failed

    def delete(self) -> None:
        """Delete the Job and its pods (background propagation); ignore a Job already gone."""
        from kubernetes.client.exceptions import ApiException

        try:
            self._batch.delete_namespaced_job(
                self.name, self.namespace, propagation_policy="Background"
            )
        except ApiException as err:
            if err.status != 404:
                raise
