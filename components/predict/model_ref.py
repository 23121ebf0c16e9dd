"""Which model ``nasdet predict`` runs: a Model artifact, a pushed version, or ``production``.

``production`` is the newest version pushed under ``<serving_root>/<model_name>`` (what TF
Serving serves); it needs both. Anything else is a folder (``locate_model``). A pushed version
records the best-F1 threshold its evaluation measured; ``predict`` uses it unless told otherwise.
"""

from __future__ import annotations

import json

from components import files
from components.artifacts.model import ModelLocation, locate_model
from components.artifacts.serving import PUSH_FILE, newest_version
from components.errors import UserError
from components.files import join

PRODUCTION = "production"


def resolve_model(model: str, serving_root: str | None, model_name: str | None) -> ModelLocation:
    """Return where the model named by ``model`` lives; UserError naming what is missing."""
    if model != PRODUCTION:
        return locate_model(model)
    if not serving_root or not model_name:
        raise UserError("--model production needs --serving-root and --model-name")
    location = newest_version(serving_root, model_name)
    if location is None:
        raise UserError(f"no version of {model_name!r} is pushed under {serving_root}")
    return location


def recorded_threshold(location: ModelLocation) -> float | None:
    """The best-F1 score threshold evaluate measured for a pushed version (``push.json``'s
    ``operating_point``), or None (a Model artifact, or a version pushed without one)."""
    path = join(location.root, PUSH_FILE)
    if not files.is_file(path):
        return None
    try:
        record = json.loads(files.read_text(path))
        value = (record.get("operating_point") or {}).get("threshold")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None
