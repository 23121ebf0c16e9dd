"""What a compiled pipeline gives each task on Kubernetes, read back from its YAML; secrets.

``read_compiled`` takes the PVC mounts and the secrets-as-environment of every executor from
the platform spec of a file ``nasdet compile`` wrote (the documents after the pipeline spec).
``load_secrets`` reads the values of those secrets from a local YAML file (for
``nasdet run --isolated``) and ``check_secrets`` refuses a file that lacks one, as a pod would
not start without it.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from components.errors import UserError


@dataclasses.dataclass(frozen=True)
class Mount:
    """A PersistentVolumeClaim ``claim`` mounted at ``path``."""

    claim: str
    path: str


@dataclasses.dataclass(frozen=True)
class SecretEnv:
    """Environment variable ``env`` set from key ``key`` of the Secret ``secret``."""

    secret: str
    key: str
    env: str


@dataclasses.dataclass(frozen=True)
class ExecutorPlatform:
    """What the compiled Kubernetes platform spec gives one executor."""

    mounts: tuple[Mount, ...] = ()
    secrets: tuple[SecretEnv, ...] = ()


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    """A compiled pipeline file: its path and the platform settings per executor label."""

    path: str
    executors: dict[str, ExecutorPlatform]

    def platform(self, function_name: str) -> ExecutorPlatform:
        """The settings of the executor running the component function ``function_name``."""
        return self.executors.get(executor_label(function_name), ExecutorPlatform())

    def claims(self) -> list[str]:
        """Every claim any executor mounts."""
        return sorted({m.claim for p in self.executors.values() for m in p.mounts})

    def secret_keys(self) -> dict[str, set[str]]:
        """Every secret any executor uses, with the keys it reads."""
        out: dict[str, set[str]] = {}
        for p in self.executors.values():
            for s in p.secrets:
                out.setdefault(s.secret, set()).add(s.key)
        return out


def executor_label(function_name: str) -> str:
    """KFP's executor label of a lightweight component function (``exec-train-model``)."""
    return "exec-" + function_name.replace("_", "-")


def read_compiled(path: str) -> CompiledPipeline:
    """Read the PVC mounts and secrets per executor from the compiled YAML ``path``."""
    with open(path, encoding="utf-8") as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    executors: dict[str, ExecutorPlatform] = {}
    for doc in documents[1:]:
        specs = (
            doc.get("platforms", {})
            .get("kubernetes", {})
            .get("deploymentSpec", {})
            .get("executors", {})
        )
        for label, spec in specs.items():
            mounts = tuple(
                Mount(claim=_constant(m, "pvcNameParameter"), path=m["mountPath"])
                for m in spec.get("pvcMount", [])
            )
            secrets = tuple(
                SecretEnv(
                    secret=_constant(s, "secretNameParameter"), key=k["secretKey"], env=k["envVar"]
                )
                for s in spec.get("secretAsEnv", [])
                for k in s.get("keyToEnv", [])
            )
            executors[label] = ExecutorPlatform(mounts, secrets)
    return CompiledPipeline(path=path, executors=executors)


def _constant(spec: Mapping[str, Any], parameter_key: str) -> str:
    """The constant name of a mount or secret (older and newer platform spec forms)."""
    value = spec.get(parameter_key, {}).get("runtimeValue", {}).get("constant")
    value = value or spec.get("constant") or spec.get("pvcName") or spec.get("secretName")
    if not value:
        raise UserError(f"the compiled platform spec has a mount or secret without a name: {spec}")
    return str(value)


def load_secrets(path: str | None) -> dict[str, dict[str, str]]:
    """Secrets from a YAML file: ``{secret: {key: value}}``, or Kubernetes Secret manifests.

    Manifests (``kind: Secret``, several per file) give ``stringData`` as is and ``data``
    base64-decoded. UserError naming the file on anything else.
    """
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            documents = [d for d in yaml.safe_load_all(f) if d is not None]
    except FileNotFoundError:
        raise UserError(f"--secrets {path} does not exist") from None
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"--secrets {path} cannot be read: {str(err).splitlines()[0]}") from None
    secrets: dict[str, dict[str, str]] = {}
    for doc in documents:
        if not isinstance(doc, dict):
            raise UserError(f"--secrets {path}: expected a mapping of secrets or Secret manifests")
        if doc.get("kind") == "Secret":
            name = str((doc.get("metadata") or {}).get("name") or "")
            if not name:
                raise UserError(f"--secrets {path}: a Secret without metadata.name")
            values = {str(k): str(v) for k, v in (doc.get("stringData") or {}).items()}
            for key, encoded in (doc.get("data") or {}).items():
                try:
                    values[str(key)] = base64.b64decode(str(encoded), validate=True).decode()
                except (ValueError, UnicodeDecodeError):
                    raise UserError(f"--secrets {path}: {name}.data.{key} is not base64") from None
            secrets[name] = values
            continue
        for name, values in doc.items():
            if not isinstance(values, dict):
                raise UserError(f"--secrets {path}: {name} must map keys to values")
            secrets[str(name)] = {str(k): str(v) for k, v in values.items()}
    return secrets


def check_secrets(compiled: CompiledPipeline, secrets: Mapping[str, Mapping[str, str]]) -> None:
    """UserError when a secret or key the pipeline uses is missing (a pod would not start)."""
    for name, keys in sorted(compiled.secret_keys().items()):
        if name not in secrets:
            raise UserError(
                f"the pipeline uses the secret {name!r}: give it in --secrets FILE "
                f"({name}: {{{', '.join(sorted(keys))}}})"
            )
        missing = sorted(keys - set(secrets[name]))
        if missing:
            raise UserError(f"--secrets: the secret {name!r} has no key {missing[0]!r}")
