"""Find SavedModels: in a Model artifact, in a pushed version, or the newest pushed version.

Two layouts hold a SavedModel:
- a Model artifact (train output): ``<dir>/saved_model/saved_model.pb`` with ``labels.json``
  and ``detector_config.json`` next to ``saved_model/``;
- a pushed version (TF Serving layout): ``<serving_root>/<model_name>/<version>/saved_model.pb``
  with ``labels.json``, ``detector_config.json`` and ``push.json`` in the same directory.
Paths may be local or any URI TensorFlow's file system supports (gs://, s3://).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath

from components.errors import UserError

SAVED_MODEL_SUBDIR = "saved_model"
SAVED_MODEL_PB = "saved_model.pb"


@dataclasses.dataclass(frozen=True)
class ModelLocation:
    """Where a model lives: ``root`` (artifact or version dir) and its ``saved_model_dir``."""

    root: str
    saved_model_dir: str
    layout: str  # "artifact" or "version"


def join(*parts: str) -> str:
    """Join path parts with "/" (works for local paths and URIs alike)."""
    return posixpath.join(*parts)


def locate_model(model_dir: str) -> ModelLocation:
    """Return where the SavedModel of ``model_dir`` is (artifact or version layout).

    Raises UserError when ``model_dir`` holds neither ``saved_model/saved_model.pb`` nor
    ``saved_model.pb``.
    """
    from tensorflow.io import gfile

    model_dir = model_dir.rstrip("/") or "/"
    nested = join(model_dir, SAVED_MODEL_SUBDIR)
    if gfile.exists(join(nested, SAVED_MODEL_PB)):
        return ModelLocation(model_dir, nested, "artifact")
    if gfile.exists(join(model_dir, SAVED_MODEL_PB)):
        return ModelLocation(model_dir, model_dir, "version")
    if not gfile.exists(model_dir):
        raise UserError(f"model directory {model_dir} does not exist")
    raise UserError(
        f"{model_dir} holds no SavedModel (expected {SAVED_MODEL_SUBDIR}/{SAVED_MODEL_PB} of a "
        f"Model artifact or {SAVED_MODEL_PB} of a pushed version)"
    )


def read_labels(location: ModelLocation) -> dict[int, str] | None:
    """The ``{id: name}`` of the model's ``labels.json``, or None when it has none."""
    from tensorflow.io import gfile

    path = join(location.root, "labels.json")
    if not gfile.exists(path):
        return None
    try:
        with gfile.GFile(path) as f:
            data = json.load(f)
        return {int(c["id"]): str(c["name"]) for c in data["classes"]}
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a labels file: {err}") from err


def integer_versions(model_root: str) -> list[int]:
    """The integer version numbers under ``model_root`` (ascending); other names are ignored."""
    from tensorflow.io import gfile

    if not gfile.isdir(model_root):
        return []
    names = (name.rstrip("/") for name in gfile.listdir(model_root))
    return sorted(int(name) for name in names if name.isdigit())


def newest_version(serving_root: str, model_name: str) -> ModelLocation | None:
    """The newest pushed version of ``model_name`` under ``serving_root``, or None if none.

    Only integer-named directories holding ``saved_model.pb`` count (as in TF Serving).
    """
    from tensorflow.io import gfile

    model_root = join(serving_root.rstrip("/"), model_name)
    for version in reversed(integer_versions(model_root)):
        path = join(model_root, str(version))
        if gfile.exists(join(path, SAVED_MODEL_PB)):
            return ModelLocation(path, path, "version")
    return None


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
