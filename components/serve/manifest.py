"""The KServe ``InferenceService`` that serves the pushed versions of a model, as a plain dict.

The predictor is KServe's TensorFlow Serving runtime (``modelFormat: tensorflow``) on the model's
folder ``<serving_root>/<model_name>``: the integer versions in the TF Serving layout that push
writes, of which TF Serving serves the highest (so a new push or a rollback needs no change
here). ``storageUri`` is that folder as KServe reads it: ``pvc://<claim>/<subpath>`` when the
serving root is a local path under a PersistentVolumeClaim's mount path (the pipeline's serving
volume), a ``gs://`` / ``s3://`` URI as it is. Over a PVC the server sees new versions as they
are published; from an object store KServe copies the folder when the pod starts.

Pure functions of plain values, no Kubernetes client and no TensorFlow: the tests validate the
result against KServe's CRD schema. ``nasdet serving-manifest`` (``pipelines.serving_manifest``)
builds it from a cluster profile; push writes it beside the versions
(:func:`write_beside_versions`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from components import files
from components.artifacts import serving
from components.errors import UserError

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
MODEL_FORMAT = "tensorflow"
MODEL_FORMAT_VERSION = "2"
# The tag of KServe's TF Serving image (tensorflow/serving:<tag>): the TF Serving release of the
# TensorFlow that exports the model. KServe's runtime defaults to 2.6.2, which does not know ops
# a TensorFlow 2.21 SavedModel uses (DisableCopyOnRead) and so cannot load it.
RUNTIME_VERSION = "2.21.0"
GPU_SUFFIX = "-gpu"  # TF Serving's CUDA images: tensorflow/serving:<version>-gpu
CPU_REQUEST = "1"
MEMORY_REQUEST = "2Gi"
# KServe's own rule for InferenceService names (IsvcNameFmt), within a DNS label's 63 characters.
NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME_LENGTH = 63
DEFAULT_NAME = "nasdet"
NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS label


@dataclasses.dataclass(frozen=True)
class ServingOptions:
    """Everything of the InferenceService besides its name and storage, in plain values.

    ``claims`` maps a mount path to the PersistentVolumeClaim mounted there (to turn a local
    serving root into ``pvc://``). Resources are Kubernetes quantities; a request without a
    limit is also the limit, because KServe keeps its runtime's own limits (1 CPU, 2Gi)
    otherwise and a larger request would be refused. ``accelerator_count`` devices of
    ``accelerator_type`` are limits and select TF Serving's ``-gpu`` image. ``tolerations`` are
    in Kubernetes form (``key``, ``operator``, ``value``, ``effect``, ``tolerationSeconds``).
    ``runtime_version`` None keeps the image of the cluster's TF Serving runtime.
    """

    claims: dict[str, str] = dataclasses.field(default_factory=dict)
    namespace: str | None = None
    service_account: str | None = None
    runtime_version: str | None = RUNTIME_VERSION
    cpu_request: str | None = CPU_REQUEST
    cpu_limit: str | None = None
    memory_request: str | None = MEMORY_REQUEST
    memory_limit: str | None = None
    accelerator_type: str | None = None
    accelerator_count: int = 0
    node_selector: dict[str, str] = dataclasses.field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    min_replicas: int = 1
    max_replicas: int | None = None

    def to_json(self) -> str:
        """These options as one line of JSON (:meth:`from_json` reads it back)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ServingOptions:
        """Options from :meth:`to_json`'s JSON; UserError when it is not such an object."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            data["tolerations"] = tuple(dict(t) for t in data.get("tolerations", ()))
            return cls(**data)
        except (ValueError, TypeError) as err:
            raise UserError(f"invalid InferenceService options {text[:80]!r}: {err}") from None

    @property
    def gpu(self) -> bool:
        """Whether the predictor asks for accelerators."""
        return bool(self.accelerator_type and self.accelerator_count)


def default_name(model_name: str) -> str:
    """An InferenceService name made of ``model_name`` (lower case, other characters as ``-``)."""
    name = re.sub(r"[^a-z0-9]+", "-", model_name.lower())
    name = re.sub(r"^[^a-z]+", "", name)[:MAX_NAME_LENGTH].rstrip("-")
    return name or DEFAULT_NAME


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` when KServe accepts it as an InferenceService name; else UserError."""
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise UserError(
            f"{what} {name!r} is not a valid InferenceService name: lower-case letters, digits "
            f"and '-', starting with a letter, ending with a letter or digit, at most "
            f"{MAX_NAME_LENGTH} characters"
        )
    return name


def check_namespace(namespace: str, what: str = "namespace") -> str:
    """Return ``namespace`` when it is a valid Kubernetes namespace name; else UserError."""
    if not NAMESPACE_PATTERN.match(namespace):
        raise UserError(f"{what} {namespace!r} is not a valid Kubernetes namespace")
    return namespace


def storage_uri(serving_root: str, model_name: str, claims: Mapping[str, str]) -> str | None:
    """The model folder ``<serving_root>/<model_name>`` as KServe's ``storageUri``.

    A URI (``gs://...``, ``s3://...``) is the folder's URI; a local path under one of the mount
    paths of ``claims`` (``{mount path: claim}``, the deepest mount wins) is
    ``pvc://<claim>/<path below the mount>``. None for a local path under none of them: a server
    cannot read it.
    """
    if files.is_remote(serving_root):
        return serving.model_root(serving_root, model_name)
    path = os.path.normpath(os.path.abspath(serving_root))
    for mount in sorted(claims, key=lambda m: len(os.path.normpath(m)), reverse=True):
        top = os.path.normpath(mount)
        if path == top or path.startswith(top.rstrip("/") + "/"):
            below = os.path.relpath(path, top)
            parts = [claims[mount], *([] if below == "." else [below]), model_name]
            return "pvc://" + "/".join(parts)
    return None


def _resources(options: ServingOptions) -> dict[str, dict[str, str]]:
    requests = {"cpu": options.cpu_request, "memory": options.memory_request}
    limits = {
        "cpu": options.cpu_limit or options.cpu_request,
        "memory": options.memory_limit or options.memory_request,
    }
    if options.gpu:
        limits[str(options.accelerator_type)] = str(options.accelerator_count)
    resources = {
        "requests": {k: v for k, v in requests.items() if v},
        "limits": {k: v for k, v in limits.items() if v},
    }
    return {k: v for k, v in resources.items() if v}


def runtime_version(options: ServingOptions) -> str | None:
    """The TF Serving image tag: ``runtime_version``, with ``-gpu`` when accelerators are asked
    for (KServe adds the suffix itself only when no version is given)."""
    version = options.runtime_version
    if version and options.gpu and not version.endswith(GPU_SUFFIX):
        return version + GPU_SUFFIX
    return version


def inference_service(name: str, storage: str, options: ServingOptions) -> dict[str, Any]:
    """The ``serving.kserve.io/v1beta1`` InferenceService ``name`` serving ``storage``."""
    model: dict[str, Any] = {
        "modelFormat": {"name": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION},
        "storageUri": storage,
    }
    version = runtime_version(options)
    if version:
        model["runtimeVersion"] = version
    resources = _resources(options)
    if resources:
        model["resources"] = resources
    predictor: dict[str, Any] = {"model": model, "minReplicas": options.min_replicas}
    if options.max_replicas is not None:
        predictor["maxReplicas"] = options.max_replicas
    if options.service_account:
        predictor["serviceAccountName"] = options.service_account
    if options.node_selector:
        predictor["nodeSelector"] = dict(sorted(options.node_selector.items()))
    if options.tolerations:
        predictor["tolerations"] = [dict(t) for t in options.tolerations]
    metadata: dict[str, Any] = {"name": name}
    if options.namespace:
        metadata["namespace"] = options.namespace
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def to_yaml(manifest: Mapping[str, Any], header: str = "") -> str:
    """``manifest`` as YAML (keys in the order given), after ``header`` lines as comments."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + yaml.safe_dump(dict(manifest), sort_keys=False, default_flow_style=False)


def write_beside_versions(
    serving_root: str, model_name: str, options: ServingOptions | None = None
) -> str | None:
    """Write ``<serving_root>/<model_name>/inferenceservice.yaml`` (named after the model) and
    return its path; None, writing nothing, when the serving root is a local path on none of
    ``options.claims`` (no server could read it). Local paths and URIs alike, atomically."""
    options = options or ServingOptions()
    storage = storage_uri(serving_root, model_name, options.claims)
    if storage is None:
        return None
    name = default_name(model_name)
    header = (
        f"The KServe InferenceService {name!r} serving the versions in this folder (TF Serving\n"
        f"serves the highest), written by the push. To serve them:\n"
        f"  kubectl apply{'' if options.namespace else ' -n NAMESPACE'} -f "
        f"{serving.INFERENCE_SERVICE_FILE}"
    )
    if not options.namespace and storage.startswith("pvc://"):
        header += f"\nwith NAMESPACE the namespace of the PVC {storage.split('/')[2]}."
    path = files.join(serving.model_root(serving_root, model_name), serving.INFERENCE_SERVICE_FILE)
    files.write_atomically(path, to_yaml(inference_service(name, storage, options), header))
    return path
