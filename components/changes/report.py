"""The check-changes step's page (Markdown): the decision, its reason, this run against production."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return "(not recorded)"
    text = '`""`' if value == "" else f"`{value}`"
    return text.replace("|", "\\|")


def render(decision: Mapping[str, Any], recorded: Any) -> str:
    """The page for ``decision`` (``changes.json``); ``recorded``: production's ``trained_on``."""
    verdict = "yes" if decision["proceed"] else "no: the run stops after ingest"
    lines = ["# Changes since production", "", f"**Retrain: {verdict}.**", "", decision["reason"]]
    production = decision.get("production")
    if production is None:
        return "\n".join(lines) + "\n"
    recorded = recorded if isinstance(recorded, Mapping) else {}
    current = decision["trained_on"]
    version = production["version"]
    lines += ["", f"| | this run | version {version} |", "|---|---|---|"]
    for key, label in (("examples", "Examples"), ("code", "code"), ("settings", "settings")):
        lines.append(f"| {label} | {_cell(current.get(key))} | {_cell(recorded.get(key))} |")
    before = recorded.get("parameters") if isinstance(recorded.get("parameters"), Mapping) else {}
    now = current.get("parameters") or {}
    lines += ["", "## Parameters that shape the model", ""]
    lines += [f"| parameter | this run | version {version} |", "|---|---|---|"]
    for name in sorted(set(now) | set(before)):
        mark = "" if now.get(name) == before.get(name) else " (changed)"
        lines.append(f"| {name}{mark} | {_cell(now.get(name))} | {_cell(before.get(name))} |")
    return "\n".join(lines) + "\n"
