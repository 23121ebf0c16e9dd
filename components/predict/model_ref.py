"""Which model ``nasdet predict`` runs: a Model artifact, a pushed version, or ``production``.

``production`` is the newest version pushed under ``<serving_root>/<model_name>`` (what TF
Serving serves); it needs both. Anything else is a folder (``locate_model``).
"""

from __future__ import annotations

from components.artifacts.model import ModelLocation, locate_model
from components.artifacts.serving import newest_version
from components.errors import UserError

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
