"""The cluster profile: where and with what resources each pipeline step runs.

A profile is a YAML file loaded into typed dataclasses; unknown keys, unknown steps, undefined
volume or secret names and malformed values are rejected with a ``UserError`` naming the file
and the key. The sections of plain fields (volumes, retry) are built with the detector config's
``build_dataclass``; the others, whose fields are optional or maps, are checked here.
It holds the image, the pipeline root, and per step: accelerator (GPU) type and count, CPU and
memory requests/limits, node selector, tolerations, the volumes (PVCs) to mount and the
secrets to expose as environment variables. ``pipelines.profile_tasks.apply_to_task`` applies a
step's settings to a KFP task. Without ``--profile`` the default profile
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

STEPS = ("ingest", "search", "train", "evaluate", "push")
PROFILES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
DEFAULT_PROFILE = os.path.join(PROFILES_DIR, "default.yaml")

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_DURATION = re.compile(r"^([0-9]+)(s|m|h)$")
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
class Profile:
    """A cluster profile: image, pipeline root, named volumes and secrets, settings per step."""

    image: str
    pipeline_root: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    volumes: dict[str, Volume] = dataclasses.field(default_factory=dict)
    secrets: dict[str, Secret] = dataclasses.field(default_factory=dict)
    steps: dict[str, StepSettings] = dataclasses.field(default_factory=dict)

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


def _fields(cls: type, data: Any, where: str) -> dict[str, Any]:
    """Check that ``data`` is a mapping whose keys are fields of ``cls``; return it as a dict."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return dict(data)


def _build(cls: type, data: Any, source: str, path: str) -> Any:
    """Build the plain dataclass ``cls`` (str, int, float fields) from ``data`` at key ``path``.

    ``build_dataclass`` rejects unknown keys and wrong types; its messages are reworded to
    start with ``source`` (the profile file) and name the key path. A missing required key is
    refused here, naming the key.
    """
    if isinstance(data, dict):
        for field in dataclasses.fields(cls):
            required = field.default is dataclasses.MISSING
            if required and field.default_factory is dataclasses.MISSING and field.name not in data:
                raise UserError(f"{source}{path}: missing key {field.name!r}")
    try:
        return build_dataclass(cls, data, path)
    except UserError as err:
        message = str(err).replace("unknown detector config key", "unknown key")
        raise UserError(source + message.replace("detector config ", "")) from None


def _str(value: Any, where: str, pattern: re.Pattern[str] | None = None) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UserError(f"{where}: expected a string, got {value!r}")
    text = str(value)
    if pattern is not None and not pattern.match(text):
        raise UserError(f"{where}: invalid value {text!r}")
    return text


def _str_map(value: Any, where: str, key_pattern: re.Pattern[str] | None = None) -> dict[str, str]:
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {_str(k, f"{where} key", key_pattern): _str(v, f"{where}.{k}") for k, v in value.items()}


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise UserError(f"{where}: expected a list, got {type(value).__name__}")
    return tuple(_str(v, f"{where}[{i}]") for i, v in enumerate(value))


def _toleration(data: Any, where: str) -> Toleration:
    d = _fields(Toleration, data, where)
    if "key" not in d:
        raise UserError(f"{where}: missing key 'key'")
    operator = _str(d.get("operator", "Equal"), f"{where}.operator")
    if operator not in ("Equal", "Exists"):
        raise UserError(f"{where}.operator: expected Equal or Exists, got {operator!r}")
    effect = d.get("effect")
    if effect is not None and effect not in _EFFECTS:
        raise UserError(f"{where}.effect: expected one of {', '.join(_EFFECTS)}, got {effect!r}")
    seconds = d.get("toleration_seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
        raise UserError(f"{where}.toleration_seconds: expected an integer, got {seconds!r}")
    value = d.get("value")
    return Toleration(
        key=_str(d["key"], f"{where}.key"),
        operator=operator,
        value=None if value is None else _str(value, f"{where}.value"),
        effect=effect,
        toleration_seconds=seconds,
    )


def duration_seconds(text: str) -> int:
    """Seconds of a profile duration (``30s``, ``5m``, ``1h``)."""
    match = _DURATION.match(text)
    if not match:
        raise UserError(f"invalid duration {text!r} (expected e.g. 30s, 5m or 1h)")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _retry(data: Any, source: str, path: str) -> Retry:
    retry = _build(Retry, data, source, path)
    if retry.num_retries < 0:
        raise UserError(
            f"{source}{path}.num_retries: expected an integer >= 0, got {retry.num_retries}"
        )
    if retry.backoff_factor < 1:
        raise UserError(
            f"{source}{path}.backoff_factor: expected a number >= 1, got {retry.backoff_factor}"
        )
    for key in ("backoff_duration", "backoff_max_duration"):
        try:
            duration_seconds(getattr(retry, key))
        except UserError as err:
            raise UserError(f"{source}{path}.{key}: {err}") from None
    return retry


def _step(data: Any, source: str, path: str) -> StepSettings:
    where = source + path
    d = _fields(StepSettings, data or {}, where)
    out: dict[str, Any] = {}
    for key in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
        if d.get(key) is not None:
            out[key] = _str(d[key], f"{where}.{key}", _QUANTITY)
    if d.get("accelerator_type") is not None:
        out["accelerator_type"] = _str(d["accelerator_type"], f"{where}.accelerator_type")
    count = d.get("accelerator_count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UserError(f"{where}.accelerator_count: expected an integer >= 0, got {count!r}")
    if count and not out.get("accelerator_type"):
        raise UserError(f"{where}: accelerator_count needs accelerator_type (e.g. nvidia.com/gpu)")
    out["accelerator_count"] = count
    if "node_selector" in d:
        out["node_selector"] = _str_map(d["node_selector"], f"{where}.node_selector")
    if "tolerations" in d:
        if not isinstance(d["tolerations"], list):
            raise UserError(f"{where}.tolerations: expected a list")
        out["tolerations"] = tuple(
            _toleration(t, f"{where}.tolerations[{i}]") for i, t in enumerate(d["tolerations"])
        )
    for key in ("volumes", "secrets"):
        if key in d:
            out[key] = _str_list(d[key], f"{where}.{key}")
    if "env" in d:
        out["env"] = _str_map(d["env"], f"{where}.env", _ENV_NAME)
    if d.get("retry") is not None:
        out["retry"] = _retry(d["retry"], source, f"{path}.retry")
    return StepSettings(**out)


def from_dict(data: Any, source: str = "profile") -> Profile:
    """Build a ``Profile`` from parsed YAML; UserError naming the key on any problem.

    Messages start with ``source`` (e.g. ``profile my.yaml``) and name the key path.
    """
    d = _fields(Profile, data, source)
    if not d.get("image"):
        raise UserError(f"{source}: missing key 'image'")
    source = f"{source}: "
    for key in ("volumes", "secrets", "steps"):
        if not isinstance(d.get(key) or {}, dict):
            raise UserError(f"{source}{key}: expected a mapping")
    volumes = {
        _str(name, f"{source}volumes key", _K8S_NAME): _build(
            Volume, spec, source, f"volumes.{name}"
        )
        for name, spec in (d.get("volumes") or {}).items()
    }
    for name, vol in volumes.items():
        if not vol.mount_path.startswith("/"):
            raise UserError(f"{source}volumes.{name}.mount_path: must be an absolute path")
    secrets = {}
    for name, spec in (d.get("secrets") or {}).items():
        s = _fields(Secret, spec, f"{source}secrets.{name}")
        if "secret" not in s or "env" not in s:
            raise UserError(f"{source}secrets.{name}: needs 'secret' and 'env'")
        secrets[_str(name, f"{source}secrets key", _K8S_NAME)] = Secret(
            secret=_str(s["secret"], f"{source}secrets.{name}.secret", _K8S_NAME),
            env=_str_map(s["env"], f"{source}secrets.{name}.env", _ENV_NAME),
        )
    steps_data = d.get("steps") or {}
    steps = {}
    for name, spec in steps_data.items():
        if name not in STEPS:
            raise UserError(f"{source}steps: unknown step {name!r} (known: {', '.join(STEPS)})")
        step = _step(spec, source, f"steps.{name}")
        for vol in step.volumes:
            if vol not in volumes:
                raise UserError(f"{source}steps.{name}.volumes: undefined volume {vol!r}")
        for sec in step.secrets:
            if sec not in secrets:
                raise UserError(f"{source}steps.{name}.secrets: undefined secret {sec!r}")
        steps[name] = step
    root = d.get("pipeline_root")
    return Profile(
        image=_str(d["image"], f"{source}image"),
        pipeline_root=None if root in (None, "") else _str(root, f"{source}pipeline_root"),
        image_pull_secrets=_str_list(
            d.get("image_pull_secrets") or [], f"{source}image_pull_secrets"
        ),
        volumes=volumes,
        secrets=secrets,
        steps=steps,
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
