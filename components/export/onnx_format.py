"""ONNX: the SavedModel's ``serving_default`` converted by tf2onnx (opset 17), NMS inside.

The graph takes uint8 images [B, H, W, 3] of any size, like the SavedModel, and returns its four
outputs; ONNX Runtime runs it on the CPU. The conversion runs tf2onnx's converter in a child
process (``python -m tf2onnx.convert``), which keeps its TensorFlow graph and logs out of ours.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from components.errors import UserError
from components.export.prepost import OUTPUT_KEYS

OPSET = 17
SIGNATURE = "serving_default"


def export(location, path: str, int8: bool, images) -> None:
    """Write the ONNX file ``path`` from the SavedModel of ``location``."""
    del int8, images  # the SavedModel holds everything
    command = [
        sys.executable,
        "-m",
        "tf2onnx.convert",
        "--saved-model",
        location.saved_model_dir,
        "--signature_def",
        SIGNATURE,
        "--opset",
        str(OPSET),
        "--output",
        path,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or not os.path.isfile(path):
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise UserError(f"tf2onnx could not convert the SavedModel: {lines[-1] if lines else ''}")


def load_runner(export_dir: str, file_name: str, threads: int, precision: str = "fp32"):
    """A runner of the ``.onnx`` file: uint8 [B, H, W, 3] -> the detection dict."""
    del precision  # ONNX Runtime runs the graph's float32
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        os.path.join(export_dir, file_name), options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name

    def run(images: np.ndarray) -> dict[str, np.ndarray]:
        images = np.asarray(images, dtype=np.uint8)
        batch = images if images.ndim == 4 else images[None]
        outputs = session.run(list(OUTPUT_KEYS), {input_name: batch})
        return {key: np.asarray(value) for key, value in zip(OUTPUT_KEYS, outputs, strict=True)}

    run.precision = "fp32"
    return run
