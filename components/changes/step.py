"""The check-changes step: does this run have anything new to train on, against production?

A retraining on the data, code and settings the production version was trained from repeats
the whole search and training for nothing. This step compares what the run would train from
with what the newest pushed version (the one TF Serving serves) records in its ``push.json``
(``trained_on``, written by push from this step's output):

- the Examples' content digest (``examples.content_digest``: the bytes of the splits and the
  labels);
- the settings digest: over the digest of the code (every ``.py`` file of the code folders
  given, i.e. the nasdet packages of the image) and the parameters that shape the model or its
  judgement (named by the caller; the data's own parameters act through the Examples).

The run goes on (``proceed``) when anything differs, when nothing is pushed yet, when the
production version records no ``trained_on`` (pushed by an older nasdet) or cannot be read,
and when ``force`` is set; otherwise it stops after ingest, and ``reason`` says why in one
paragraph (the KFP page and ``nasdet run``'s summary show it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from components import files
from components.artifacts import changes as changes_artifact
from components.artifacts import examples, serving
from components.changes.report import render
from components.errors import UserError

Value = str | int | float | bool


# The packages of the code that trains and judges a model (those of the nasdet image).
CODE_PACKAGES = ("components", "pipelines")


def default_code_roots() -> list[str]:
    """The folders of the installed nasdet packages (found without importing them)."""
    import importlib.util

    roots = []
    for name in CODE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots.append(list(spec.submodule_search_locations)[0])
    return roots


def code_digest(roots: Iterable[str]) -> str:
    """``sha256:<hex>`` over the relative names and bytes of every ``.py`` file under ``roots``.

    Each root is a package folder (its name is part of the relative names); ``__pycache__`` is
    left out. Raises UserError when a root is not a folder.
    """
    digest = hashlib.sha256()
    for root in roots:
        if not os.path.isdir(root):
            raise UserError(f"code folder {root} does not exist")
        base = os.path.dirname(os.path.abspath(root))
        found = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            found += [os.path.join(folder, n) for n in names if n.endswith(".py")]
        for path in sorted(found):
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            with open(path, "rb") as f:
                data = f.read()
            digest.update(f"{rel}\0{len(data)}\0".encode() + data)
    return "sha256:" + digest.hexdigest()


def _canonical(value: Any) -> Any:
    """A parameter value as compared: numbers as floats (a KFP run may hand ``240`` for
    ``240.0``), booleans and strings as they are."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):
            raise UserError(f"parameter value {value!r} is not a finite number")
        return number
    raise UserError(f"parameter value {value!r} is not a string, number or boolean")


def settings_digest(code: str, parameters: Mapping[str, Value]) -> str:
    """``sha256:<hex>`` over the code digest and the (canonical) parameters, sorted by name."""
    canonical = {name: _canonical(value) for name, value in parameters.items()}
    text = json.dumps({"code": code, "parameters": canonical}, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def trained_on(examples_digest: str, code: str, parameters: Mapping[str, Value]) -> dict:
    """What push records for a model of this run (``changes.TRAINED_ON_KEYS``)."""
    return {
        "examples": examples_digest,
        "settings": settings_digest(code, parameters),
        "code": code,
        "parameters": {name: parameters[name] for name in sorted(parameters)},
    }


def _short(digest: Any) -> str:
    return str(digest)[:19] + "..." if isinstance(digest, str) and len(digest) > 19 else str(digest)


def _parameter_changes(now: Mapping[str, Any], before: Any) -> list[str]:
    """``name old -> new`` for each parameter that differs (absent on one side included)."""
    before = before if isinstance(before, Mapping) else {}
    out = []
    for name in sorted(set(now) | set(before)):
        if name not in before:
            out.append(f"{name} (not recorded) -> {now[name]!r}")
        elif name not in now:
            out.append(f"{name} {before[name]!r} -> (not a parameter any more)")
        else:
            try:
                same = _canonical(now[name]) == _canonical(before[name])
            except UserError:
                same = False
            if not same:
                out.append(f"{name} {before[name]!r} -> {now[name]!r}")
    return out


def compare(current: Mapping[str, Any], record: Mapping[str, Any] | None) -> list[str]:
    """What differs between this run's ``trained_on`` and production's (``record``): a list
    of short phrases (empty when nothing did). ``record`` None: not recorded at all."""
    if not isinstance(record, Mapping) or any(
        k not in record for k in changes_artifact.TRAINED_ON_KEYS
    ):
        return ["not recorded"]
    changed = []
    if record["examples"] != current["examples"]:
        changed.append(
            f"the Examples ({_short(record['examples'])} -> {_short(current['examples'])})"
        )
    if record["settings"] != current["settings"]:
        before = len(changed)
        if record["code"] != current["code"]:
            changed.append(f"the code ({_short(record['code'])} -> {_short(current['code'])})")
        params = _parameter_changes(current["parameters"], record["parameters"])
        if params:
            changed.append("parameters: " + ", ".join(params))
        if len(changed) == before:  # the parts agree, their digest not: recorded otherwise
            changed.append(
                f"the settings ({_short(record['settings'])} -> {_short(current['settings'])})"
            )
    return changed


def decide(
    current: Mapping[str, Any],
    production: str | None,
    record: Mapping[str, Any] | None,
    force: bool,
    unreadable: str | None = None,
) -> dict:
    """The decision for this run's ``trained_on`` against the production version.

    ``production`` is the production version's folder (None: nothing pushed), ``record`` its
    ``push.json`` (None when missing or unreadable: ``unreadable`` says why). Returns the
    ``changes.json`` dict: ``proceed``, ``reason``, ``changed``, ``production`` and
    ``trained_on``.
    """
    version = os.path.basename(production.rstrip("/")) if production else None
    where = f"version {version} ({production})" if production else None
    if production is None:
        changed = ["nothing pushed"]
        reason = "Nothing is pushed yet: the run trains a first model."
    elif record is None:
        changed = ["not recorded"]
        reason = (
            f"The production {where} cannot be compared: {unreadable}. Counted as changed: the "
            "run retrains."
        )
    else:
        changed = compare(current, record.get(serving.TRAINED_ON))
        if changed == ["not recorded"]:
            reason = (
                f"The production {where} records no trained_on digest (versions pushed before "
                "nasdet recorded what a version was trained from have none). Counted as "
                "changed: the run retrains."
            )
        elif changed:
            reason = (
                f"Changed since the production {where}: {'; '.join(changed)}. The run retrains."
            )
        else:
            reason = (
                f"Nothing changed since the production {where}: the same Examples (content "
                "digest), code and model parameters. Search, train, evaluate and push are "
                "skipped; set force=true to retrain anyway."
            )
            if force:
                reason = (
                    f"Nothing changed since the production {where} (the same Examples, code "
                    "and model parameters), but force is set, so the run retrains anyway."
                )
    proceed = bool(changed) or force
    return {
        "proceed": proceed,
        "forced": bool(force and not changed),
        "reason": reason,
        "changed": changed,
        "production": {"version": version, "path": production} if production else None,
        "trained_on": dict(current),
    }


def run(
    examples_dir: str,
    serving_root: str,
    model_name: str,
    parameters: Mapping[str, Value],
    code_roots: Iterable[str],
    output_dir: str,
    force: bool = False,
) -> dict:
    """Compare this run with the production version; write the Changes artifact.

    Args:
        examples_dir: the Examples artifact this run ingested.
        serving_root: the serving location (local folder or URI); empty: nothing to compare
            with.
        model_name: the model's folder under ``serving_root``.
        parameters: the parameters that shape the model or its judgement, by name.
        code_roots: the folders of the code that trains and judges (hashed into the code
            digest).
        output_dir: where ``changes.json`` and ``report.md`` are written.
        force: go on even when nothing changed.

    Returns:
        The ``changes.json`` dict (``proceed``, ``reason``, ``changed``, ``production``,
        ``trained_on``).

    Raises:
        UserError: a parameter value that is not a string, number or boolean, a missing code
            folder, or Examples that cannot be read.
    """
    if not files.is_dir(examples_dir):
        raise UserError(f"examples {examples_dir} do not exist")
    current = trained_on(examples.content_digest(examples_dir), code_digest(code_roots), parameters)
    location = serving.newest_version(serving_root, model_name) if serving_root else None
    production = location.root if location is not None else None
    record, unreadable = None, None
    if production is not None:
        try:
            record = serving.read_push_record(production)
        except FileNotFoundError:
            unreadable = f"it has no {serving.PUSH_FILE}"
        except ValueError as err:
            unreadable = str(err)
    decision = decide(current, production, record, force, unreadable)
    recorded = record.get(serving.TRAINED_ON) if isinstance(record, dict) else None
    changes_artifact.write(output_dir, decision, render(decision, recorded))
    return decision
