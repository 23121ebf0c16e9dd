"""The Model artifact (train writes it) and where a SavedModel lives.

Two layouts hold a SavedModel:

- a Model artifact (train output)::

      saved_model/            the SavedModel (saved_model.pb, variables/; every signature)
      model.weights.h5        the Keras weights (warm start)
      detector_config.json    the DetectorConfig the model was built from
      labels.json             the Examples' labels.json, as is
      history.csv, logs/      the training history and TensorBoard logs

- a pushed version (TF Serving layout, :mod:`components.artifacts.serving`): the SavedModel
  files directly in ``<serving_root>/<model_name>/<version>/``, with ``labels.json``,
  ``detector_config.json``, ``model.weights.h5`` and ``push.json`` beside them.

Paths may be local or any URI TensorFlow's file system supports (gs://, s3://). Importing this
module never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from components import files
from components.artifacts.examples import LABELS_FILE
from components.errors import UserError
from components.files import hash_file, join, walk_files

SAVED_MODEL_DIR = "saved_model"
SAVED_MODEL_PB = "saved_model.pb"
VARIABLES_DIR = "variables"
CONFIG_FILE = "detector_config.json"
WEIGHTS_FILE = "model.weights.h5"


@dataclasses.dataclass(frozen=True)
class ModelLocation:
    """Where a model lives: ``root`` (artifact or version dir) and its ``saved_model_dir``."""

    root: str
    saved_model_dir: str
    layout: str  # "artifact" or "version"


def locate_model(model_dir: str) -> ModelLocation:
    """Return where the SavedModel of ``model_dir`` is (artifact or version layout).

    Raises UserError when ``model_dir`` holds neither ``saved_model/saved_model.pb`` nor
    ``saved_model.pb``.
    """
    model_dir = model_dir.rstrip("/") or "/"
    nested = join(model_dir, SAVED_MODEL_DIR)
    if files.is_file(join(nested, SAVED_MODEL_PB)):
        return ModelLocation(model_dir, nested, "artifact")
    if files.is_file(join(model_dir, SAVED_MODEL_PB)):
        return ModelLocation(model_dir, model_dir, "version")
    if not files.exists(model_dir):
        raise UserError(f"model directory {model_dir} does not exist")
    raise UserError(
        f"{model_dir} holds no SavedModel (expected {SAVED_MODEL_DIR}/{SAVED_MODEL_PB} of a "
        f"Model artifact or {SAVED_MODEL_PB} of a pushed version)"
    )


def read_label_names(location: ModelLocation) -> dict[int, str] | None:
    """The ``{id: name}`` of the model's ``labels.json``, or None when it has none."""
    path = join(location.root, LABELS_FILE)
    if not files.is_file(path):
        return None
    try:
        data = json.loads(files.read_text(path))
        return {int(c["id"]): str(c["name"]) for c in data["classes"]}
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a labels file: {err}") from err


def model_fingerprint(saved_model_dir: str) -> str:
    """``sha256:<hex>`` over ``saved_model.pb`` and every file of ``variables/`` (names, bytes).

    Ties a blessing to the model it was computed on: push checks that the SavedModel it copies
    is the one that was evaluated.
    """
    digest = hashlib.sha256()
    names = [SAVED_MODEL_PB] + [
        join(VARIABLES_DIR, f) for f in walk_files(join(saved_model_dir, VARIABLES_DIR))
    ]
    for name in names:
        digest.update(name.encode() + b"\0")
        hash_file(digest, join(saved_model_dir, name))
    return "sha256:" + digest.hexdigest()
