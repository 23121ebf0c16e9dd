"""The cluster profile: where and with what resources each pipeline step runs.

A profile is a YAML file loaded into typed dataclasses; unknown keys, unknown steps, undefined
volume or secret names and malformed values are rejected with a ``UserError`` naming the file
and the key: the dataclasses are built by the typed ``build_dataclass`` (the detector config's
too), and the values Kubernetes would refuse are checked here.
It holds the image, the pipeline root, and per step: accelerator (GPU) type and count, CPU and
memory requests/limits, node selector, tolerations, the volumes (PVCs) to mount and the
secrets to expose as environment variables; and ``serving``: the KServe InferenceService
that serves the pushed versions (``pipelines.serving_manifest``).
``pipelines.profile_tasks.apply_to_task`` applies a step's settings to a KFP task. Without
``--profile`` the default profile
(``pipelines/profiles/default.yaml``) is used.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import yaml

from components.detector.config_parse import build_dataclass
from components.errors import UserError
from components.serve import manifest

STEPS = ("ingest", "changes", "search", "train", "evaluate", "push")
PROFILES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
DEFAULT_PROFILE = os.path.join(PROFILES_DIR, "default.yaml")

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_DURATION = re.compile(r"^([0-9]+)(s|m|h)$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclasses.dataclass(frozen=True)
class Toleration:
    """A Kubernetes toleration (``operator``: Equal or Exists)."""

    key: str
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


@dataclasses.dataclass(frozen=True)
class Volume:
    """A PersistentVolumeClaim ``pvc`` mounted at ``mount_path``."""

    pvc: str
    mount_path: str


@dataclasses.dataclass(frozen=True)
class Secret:
    """A Kubernetes Secret ``secret`` exposed as environment variables ``{ENV_VAR: secret key}``."""

    secret: str
    env: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Retry:
    """How often a failed (or preempted) pod is started again, with exponential backoff.

    ``backoff_duration`` and ``backoff_max_duration`` are durations such as ``30s``, ``5m`` or
    ``1h``: the first wait, and the cap of the waits that grow by ``backoff_factor``.
    """

    num_retries: int
    backoff_duration: str = "60s"
    backoff_factor: float = 2.0
    backoff_max_duration: str = "1h"


@dataclasses.dataclass(frozen=True)
class StepSettings:
    """Resources and placement of one step (all optional)."""

    accelerator_type: str | None = None
    accelerator_count: int = 0
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    node_selector: dict[str, str] = dataclasses.field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    volumes: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    retry: Retry | None = None


@dataclasses.dataclass(frozen=True)
class ServingSettings:
    """The KServe InferenceService serving the pushed versions (all optional): its namespace
    and service account (whose secrets give KServe's storage initializer s3:// credentials),
    the tag of TF Serving's image, the predictor's resources and placement, its replicas."""

    namespace: str | None = None
    service_account: str | None = None
    runtime_version: str | None = manifest.RUNTIME_VERSION
    accelerator_type: str | None = None
    accelerator_count: int = 0
    cpu_request: str | None = manifest.CPU_REQUEST
    cpu_limit: str | None = None
    memory_request: str | None = manifest.MEMORY_REQUEST
    memory_limit: str | None = None
    node_selector: dict[str, str] = dataclasses.field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    min_replicas: int = 1
    max_replicas: int | None = None


@dataclasses.dataclass(frozen=True)
class Profile:
    """A cluster profile: image, pipeline root, named volumes and secrets, settings per step,
    the InferenceService."""

    image: str
    pipeline_root: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    volumes: dict[str, Volume] = dataclasses.field(default_factory=dict)
    secrets: dict[str, Secret] = dataclasses.field(default_factory=dict)
    steps: dict[str, StepSettings] = dataclasses.field(default_factory=dict)
    serving: ServingSettings = dataclasses.field(default_factory=ServingSettings)

    def step(self, name: str) -> StepSettings:
        """The settings of step ``name`` (empty settings when the profile has none)."""
        return self.steps.get(name, StepSettings())

    def with_image(self, image: str) -> Profile:
        """A copy of this profile with another image."""
        return dataclasses.replace(self, image=image)

    def without_retries(self) -> Profile:
        """A copy of this profile whose steps are not retried (a local run fails fast)."""
        steps = {n: dataclasses.replace(s, retry=None) for n, s in self.steps.items()}
        return dataclasses.replace(self, steps=steps)


def duration_seconds(text: str) -> int:
    """Seconds of a profile duration (``30s``, ``5m``, ``1h``)."""
    match = _DURATION.match(text)
    if not match:
        raise UserError(f"invalid duration {text!r} (expected e.g. 30s, 5m or 1h)")
    return int(match.group(1)) * _SECONDS[match.group(2)]


_QUANTITIES = ("cpu_request", "cpu_limit", "memory_request", "memory_limit")
_SECTIONS = ("volumes", "secrets", "steps", "serving")


def _plain_quantities(spec: Any) -> Any:
    """A step's or the serving section's mapping (None: empty) with CPU and memory given as
    numbers (``cpu_request: 2``) as the strings Kubernetes takes."""
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        return spec
    spec = dict(spec)
    for key in _QUANTITIES:
        value = spec.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            spec[key] = str(value)
    return spec


def _plain(data: Any) -> Any:
    """``data`` with what YAML spells loosely made exact: empty sections and steps (``push:``)
    as empty mappings, an empty ``pipeline_root`` as none, CPU and memory given as numbers
    (``cpu_request: 2``) as the strings Kubernetes takes. Anything else is left for the typed
    build to accept or refuse."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in _SECTIONS:
        if key in data and data[key] is None:
            data[key] = {}
    if data.get("pipeline_root") == "":
        data["pipeline_root"] = None
    if isinstance(data.get("steps"), dict):
        data["steps"] = {name: _plain_quantities(spec) for name, spec in data["steps"].items()}
    if "serving" in data:
        data["serving"] = _plain_quantities(data["serving"])
    return data


def _check_value(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise UserError(f"{where}: {message}")


def _check_name(name: str, where: str, pattern: re.Pattern[str]) -> None:
    _check_value(bool(pattern.match(name)), where, f"invalid value {name!r}")


def _check_retry(retry: Retry, where: str) -> None:
    _check_value(
        retry.num_retries >= 0,
        f"{where}.num_retries",
        f"expected an integer >= 0, got {retry.num_retries}",
    )
    _check_value(
        retry.backoff_factor >= 1,
        f"{where}.backoff_factor",
        f"expected a number >= 1, got {retry.backoff_factor}",
    )
    for key in ("backoff_duration", "backoff_max_duration"):
        try:
            duration_seconds(getattr(retry, key))
        except UserError as err:
            raise UserError(f"{where}.{key}: {err}") from None


def _check_resources(step: StepSettings | ServingSettings, where: str) -> None:
    """The resources and tolerations of a step or of the serving section."""
    for key in _QUANTITIES:
        if getattr(step, key) is not None:
            _check_name(getattr(step, key), f"{where}.{key}", _QUANTITY)
    count = step.accelerator_count
    _check_value(count >= 0, f"{where}.accelerator_count", f"expected an integer >= 0, got {count}")
    _check_value(
        not count or bool(step.accelerator_type),
        where,
        "accelerator_count needs accelerator_type (e.g. nvidia.com/gpu)",
    )
    for i, toleration in enumerate(step.tolerations):
        at = f"{where}.tolerations[{i}]"
        _check_value(
            toleration.operator in ("Equal", "Exists"),
            f"{at}.operator",
            f"expected Equal or Exists, got {toleration.operator!r}",
        )
        _check_value(
            toleration.effect is None or toleration.effect in _EFFECTS,
            f"{at}.effect",
            f"expected one of {', '.join(_EFFECTS)}, got {toleration.effect!r}",
        )


def _check_step(step: StepSettings, where: str, profile: Profile) -> None:
    _check_resources(step, where)
    for name in step.env:
        _check_name(name, f"{where}.env key", _ENV_NAME)
    if step.retry is not None:
        _check_retry(step.retry, f"{where}.retry")
    for volume in step.volumes:
        _check_value(volume in profile.volumes, f"{where}.volumes", f"undefined volume {volume!r}")
    for secret in step.secrets:
        _check_value(secret in profile.secrets, f"{where}.secrets", f"undefined secret {secret!r}")


def from_dict(data: Any, source: str = "profile") -> Profile:
    """Build a ``Profile`` from parsed YAML; UserError naming the key on any problem.

    The typed build (``build_dataclass``) refuses unknown keys, missing keys and wrong types;
    the checks here are the values Kubernetes would refuse (names, quantities, operators) and
    names that refer to nothing. Messages start with ``source`` (e.g. ``profile my.yaml``) and
    name the key path.
    """
    prefix = f"{source}: "
    profile = build_dataclass(Profile, _plain(data), "", prefix)
    _check_value(bool(profile.image), source, "missing key 'image'")
    for name, volume in profile.volumes.items():
        _check_name(name, f"{prefix}volumes key", _K8S_NAME)
        _check_value(
            volume.mount_path.startswith("/"),
            f"{prefix}volumes.{name}.mount_path",
            "must be an absolute path",
        )
    for name, secret in profile.secrets.items():
        _check_name(name, f"{prefix}secrets key", _K8S_NAME)
        _check_name(secret.secret, f"{prefix}secrets.{name}.secret", _K8S_NAME)
        for env in secret.env:
            _check_name(env, f"{prefix}secrets.{name}.env key", _ENV_NAME)
    for name, step in profile.steps.items():
        _check_value(
            name in STEPS, f"{prefix}steps", f"unknown step {name!r} (known: {', '.join(STEPS)})"
        )
        _check_step(step, f"{prefix}steps.{name}", profile)
    _check_serving(profile.serving, f"{prefix}serving")
    return profile


def _check_serving(serving: ServingSettings, where: str) -> None:
    _check_resources(serving, where)
    if serving.namespace is not None:
        _check_name(serving.namespace, f"{where}.namespace", manifest.NAMESPACE_PATTERN)
    if serving.service_account is not None:
        _check_name(serving.service_account, f"{where}.service_account", _K8S_NAME)
    if serving.runtime_version is not None:
        _check_name(serving.runtime_version, f"{where}.runtime_version", _IMAGE_TAG)
    low = serving.min_replicas
    _check_value(low >= 0, f"{where}.min_replicas", f"expected an integer >= 0, got {low}")
    high = serving.max_replicas
    _check_value(
        high is None or high >= max(low, 1),
        f"{where}.max_replicas",
        f"expected an integer >= {max(low, 1)} (and min_replicas), got {high}",
    )


def load(path: str | None = None) -> Profile:
    """Load the profile YAML at ``path`` (the default profile when None); UserError on problems."""
    path = path or DEFAULT_PROFILE
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise UserError(f"profile {path} does not exist") from None
    except (OSError, yaml.YAMLError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"profile {path} cannot be read: {reason}") from None
    return from_dict(data, f"profile {path}")


def check_path_volumes(profile: Profile, paths: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    """Refuse a profile in which a step that uses a path parameter sees no volume holding it.

    ``paths`` maps a parameter name to ``(its default, the steps that read or write it)``. On a
    cluster a path that no mounted volume covers lies on the pod's own disk and is lost with
    the pod (a push that nothing remembers, checkpoints a retried pod cannot find). A URI
    (``gs://...``) or an empty default is not checked. Raises UserError naming the step, the
    parameter and what to add.
    """
    for name, (default, steps) in paths.items():
        if not default or "://" in default:
            continue
        target = os.path.normpath(default)
        for step in steps:
            mounted = [profile.volumes[v] for v in profile.step(step).volumes]
            if any(_covers(vol.mount_path, target) for vol in mounted):
                continue
            candidates = [n for n, v in profile.volumes.items() if _covers(v.mount_path, target)]
            hint = (
                f"add volumes: [{candidates[0]}] to steps.{step}"
                if candidates
                else f"define a volume mounted at {target} (or above) and mount it in steps.{step}"
            )
            raise UserError(
                f"profile: the {step} step uses {name} {target} but mounts no volume there, "
                f"so what it writes would be lost with the pod: {hint}"
            )


def _covers(mount_path: str, path: str) -> bool:
    mount = os.path.normpath(mount_path)
    return path == mount or path.startswith(mount.rstrip("/") + "/")
