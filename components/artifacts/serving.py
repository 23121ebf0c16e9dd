"""The serving volume: pushed versions of a model (push writes them; evaluate reads the newest).

Layout (TensorFlow Serving)::

    <serving_root>/<model_name>/<version>/   an integer version: the SavedModel files
        saved_model.pb, variables/             (saved_model.pb written last on object stores)
        labels.json, detector_config.json, model.weights.h5   copied from the Model artifact
        push.json                              version, metrics, source model, fingerprints,
                                               trained_on (what the check-changes step compares),
                                               load_check (the push's check of the staged copy)
        assets.extra/tf_serving_warmup_requests  PredictionLog records TF Serving replays on load
        exports/<format>/                      the push's other serving formats (export_formats):
                                               what ``nasdet export`` writes, export.json with
                                               the parity check against this SavedModel
    <serving_root>/<model_name>/inferenceservice.yaml   the KServe InferenceService serving the
                                                         folder (components.serve.manifest)

Names that are not integers (``.tmp-push-*``, ``.last_version``) are not versions: TF Serving
ignores them, and so does every reader here. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import json

from components import files
from components.artifacts import model
from components.files import join

PUSH_FILE = "push.json"
# Beside the versions: the KServe InferenceService whose storageUri is the model's folder.
INFERENCE_SERVICE_FILE = "inferenceservice.yaml"
# The key of push.json holding what the version was trained from (``changes.TRAINED_ON_KEYS``:
# the Examples' content digest, the settings digest, the code digest, the parameters).
TRAINED_ON = "trained_on"
# Beside the SavedModel: the labels, the config and the Keras weights of the Model artifact, so
# a pushed version can warm-start the next training.
EXTRA_FILES = (model.LABELS_FILE, model.CONFIG_FILE, model.WEIGHTS_FILE)
# Inside a version: one folder per exported serving format (``exports/onnx/model.onnx``, ...).
# Not ``assets*`` nor ``variables``, the only folders TF Serving reads in a version, and not at
# the top: with --prefer_tflite_model TF Serving would serve a top-level ``model.tflite``.
EXPORTS_DIR = "exports"


def model_root(serving_root: str, model_name: str) -> str:
    """``<serving_root>/<model_name>``, the directory of the model's versions."""
    return join(serving_root.rstrip("/"), model_name)


def integer_versions(model_root: str) -> list[int]:
    """The integer version numbers under ``model_root`` (ascending); other names are ignored."""
    return sorted(int(name) for name in files.list_dir(model_root) if name.isdigit())


def newest_version(serving_root: str, model_name: str) -> model.ModelLocation | None:
    """The newest pushed version of ``model_name`` under ``serving_root``, or None if none.

    Only integer-named directories holding ``saved_model.pb`` count (as in TF Serving).
    """
    root = model_root(serving_root, model_name)
    for version in reversed(integer_versions(root)):
        path = join(root, str(version))
        if files.is_file(join(path, model.SAVED_MODEL_PB)):
            return model.ModelLocation(path, path, "version")
    return None


def read_push_record(version_dir: str) -> dict:
    """The ``push.json`` of the pushed version at ``version_dir``.

    Raises ``FileNotFoundError`` when it has none and ``ValueError`` when it is not a JSON
    object (or cannot be read).
    """
    path = join(version_dir, PUSH_FILE)
    try:
        data = json.loads(files.read_text(path))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def write_push_record(directory: str, record: dict) -> None:
    """Write ``push.json`` of ``record`` into ``directory`` (replacing an earlier one)."""
    files.write_atomically(join(directory, PUSH_FILE), json.dumps(record, indent=2) + "\n")
