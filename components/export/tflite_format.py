"""LiteRT (TensorFlow Lite): the raw network (no NMS) with its variables frozen, NMS outside.

The converter is given the detector's ``tf.function`` with its variables turned into constants
first (converted with live variables, the model's outputs are NaN). ``int8`` quantizes the
weights and activations to 8 bits, calibrated on the parity images (float32 input and output
kept). The runner adds the SavedModel's pre-processing and NMS
(``components.export.prepost``).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from components.errors import UserError

CALIBRATION_IMAGES = 32


def export(location, path: str, int8: bool, images) -> None:
    """Write the LiteRT file ``path`` (quantized to int8 with ``int8``).

    ``images`` (uint8 [H, W, 3] arrays) calibrate the int8 quantization.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from components.export.prepost import RawRunner
    from components.export.raw_model import load_detector, raw_function

    detector, config = load_detector(location)
    raw = raw_function(detector, config)
    frozen = convert_variables_to_constants_v2(raw.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if int8:
        calibration = list(images or [])[:CALIBRATION_IMAGES]
        if not calibration:
            raise UserError("--int8 needs images to calibrate on (--examples or --images)")
        pad = RawRunner(lambda x: x, config)._pre

        def representative():
            for image in calibration:
                padded, _, _ = pad(np.asarray(image, dtype=np.uint8)[None])
                yield [padded.numpy()]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
    with open(path, "wb") as f:
        f.write(converter.convert())


def load_runner(export_dir: str, file_name: str, threads: int, precision: str = "fp32"):
    """A runner of the ``.tflite`` file in ``export_dir`` with the NMS outside."""
    del precision  # the file says it: float32, or int8 weights and activations
    import tensorflow as tf

    from components.export.prepost import RawRunner
    from components.export.raw_model import load_config

    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(
            model_path=os.path.join(export_dir, file_name), num_threads=threads
        )
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]

    def network(padded: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(source, padded)
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    runner = RawRunner(network, load_config(export_dir))
    runner.precision = "int8" if "int8" in file_name else "fp32"
    return runner
