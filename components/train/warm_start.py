"""Warm start: load the weights of a previously exported Model artifact of the same architecture.

Scheduled retraining starts from the production model: the Model artifact stores the Keras
weights next to its SavedModel (``model.weights.h5``) and its ``detector_config.json``; both are
read here, from a folder or a URI (a version pushed to ``gs://`` / ``s3://``: the weights are
copied to a local file to load them). A different architecture (backbone, BiFPN, heads,
anchors per location, classes) is a ``UserError``.
"""

from __future__ import annotations

import keras

from components import files
from components.detector import backbones
from components.detector.config import DetectorConfig
from components.errors import UserError
from components.local_copy import local_file
from components.train import artifact


def architecture_signature(config: DetectorConfig) -> dict:
    """Return the parts of ``config`` that decide the weights' shapes (for comparison).

    The backbone part is its kind and the fields its registration (``backbones``) names.
    """
    data = config.to_dict()
    return {
        "num_classes": data["num_classes"],
        "backbone": backbones.get(config.backbone.kind).signature(data["backbone"]),
        "bifpn": data["bifpn"],
        "head": data["head"],
        "anchors_per_location": config.anchors.per_location,
    }


def _differences(ours: dict, theirs: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(ours) | set(theirs))
    out: list[str] = []
    for key in keys:
        a, b = ours.get(key), theirs.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}: {b!r} in the model, {a!r} here")
    return out


def check_model_artifact(model_dir: str, config: DetectorConfig) -> str:
    """Check that ``model_dir`` is a Model artifact with weights for ``config``'s architecture.

    Returns the weights file. Raises UserError when the weights or ``detector_config.json`` are
    missing or when the architecture differs (the message names the first differences).
    """
    for name in (artifact.WEIGHTS_FILE, artifact.CONFIG_FILE):
        try:
            present = files.is_file(files.join(model_dir, name))
        except Exception as err:  # unknown scheme, credentials, permissions, network
            reason = (str(err).strip() or type(err).__name__).splitlines()[0]
            raise UserError(f"--warm-start {model_dir}: cannot read it: {reason}") from None
        if not present:
            raise UserError(f"--warm-start {model_dir}: no {name} (not a Model artifact)")
    theirs = DetectorConfig.load(files.join(model_dir, artifact.CONFIG_FILE))
    diff = _differences(architecture_signature(config), architecture_signature(theirs))
    if diff:
        raise UserError(
            f"--warm-start {model_dir}: a different architecture ({'; '.join(diff[:3])})"
        )
    return files.join(model_dir, artifact.WEIGHTS_FILE)


def load_warm_start(model: keras.Model, config: DetectorConfig, model_dir: str) -> str:
    """Load the weights of the Model artifact ``model_dir`` into ``model`` (built from ``config``).

    Raises UserError when ``model_dir`` is not a Model artifact with Keras weights, or when its
    architecture differs from ``config``. Returns the weights file that was loaded.
    """
    weights = check_model_artifact(model_dir, config)
    try:
        with local_file(weights) as local:
            model.load_weights(local)
    except (ValueError, KeyError, OSError) as err:
        raise UserError(f"--warm-start {model_dir}: cannot load {weights}: {err}") from err
    return weights
