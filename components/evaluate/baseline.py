"""The baseline an evaluation compares the candidate with: a given model, or the newest pushed
version, or none.

Model locations are :mod:`components.artifacts.model`'s (a Model artifact or a pushed version);
pushed versions are found on the serving volume (:mod:`components.artifacts.serving`).
"""

from __future__ import annotations

from components.artifacts.model import ModelLocation, locate_model
from components.artifacts.serving import newest_version
from components.errors import UserError


def resolve_baseline(
    baseline_dir: str | None, serving_root: str | None, model_name: str | None
) -> ModelLocation | None:
    """The baseline model: ``baseline_dir`` when given, else the newest pushed version.

    ``serving_root`` needs ``model_name``. Returns None when there is no baseline (nothing
    pushed yet), which is not an error.
    """
    if baseline_dir and serving_root:
        raise UserError("give either --baseline or --serving-root, not both")
    if baseline_dir:
        return locate_model(baseline_dir)
    if serving_root:
        if not model_name:
            raise UserError("--serving-root needs --model-name")
        return newest_version(serving_root, model_name)
    return None
