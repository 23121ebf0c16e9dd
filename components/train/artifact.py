"""Write the Model artifact: saved_model/, model.weights.h5, detector_config.json, labels.json,
history.csv, curves.png (when epochs ran) and logs/ (TensorBoard), all at once through an
atomic output directory.

The layout and its readers: :mod:`components.artifacts.model`.
"""

from __future__ import annotations

import os
import shutil

import keras

from components.artifacts.model import CONFIG_FILE, LABELS_FILE, SAVED_MODEL_DIR, WEIGHTS_FILE
from components.detector import export
from components.files import atomic_output_dir
from components.train import callbacks, curves


def write_model_artifact(
    output_dir: str,
    model: keras.Model,
    config,
    labels: dict,
    work_dir: str,
) -> dict:
    """Write the Model artifact of ``model`` (the float32 detector with its final weights).

    ``config`` is the DetectorConfig the model was built from, ``labels`` the ``labels.json`` dict
    of the Examples, ``work_dir`` the training working directory (``history.csv`` and ``logs/``
    are copied from it). The directory appears at ``output_dir`` complete or not at all.
    Returns the paths written: ``{"saved_model", "weights", "config", "labels", "history",
    "logs"}``.
    """
    with atomic_output_dir(output_dir) as tmp:
        export.export_saved_model(model, config, labels, tmp)
        model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
        with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as f:
            f.write(config.to_json())
        history = os.path.join(work_dir, callbacks.HISTORY_FILE)
        if os.path.exists(history):
            shutil.copy(history, os.path.join(tmp, callbacks.HISTORY_FILE))
            with open(history, encoding="utf-8") as f:
                png = curves.curves_png(curves.read_history(f.read()))
            if png:
                with open(os.path.join(tmp, curves.CURVES_FILE), "wb") as f:
                    f.write(png)
        else:
            callbacks.write_history_csv([], os.path.join(tmp, callbacks.HISTORY_FILE))
        logs = os.path.join(work_dir, callbacks.LOGS_DIR)
        if os.path.isdir(logs):
            shutil.copytree(logs, os.path.join(tmp, callbacks.LOGS_DIR))
        else:
            os.makedirs(os.path.join(tmp, callbacks.LOGS_DIR))
    paths = {
        "saved_model": os.path.join(output_dir, SAVED_MODEL_DIR),
        "weights": os.path.join(output_dir, WEIGHTS_FILE),
        "config": os.path.join(output_dir, CONFIG_FILE),
        "labels": os.path.join(output_dir, LABELS_FILE),
        "history": os.path.join(output_dir, callbacks.HISTORY_FILE),
        "logs": os.path.join(output_dir, callbacks.LOGS_DIR),
    }
    return paths
