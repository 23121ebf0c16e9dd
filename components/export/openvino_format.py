"""OpenVINO: the raw network (no NMS) converted from its ``tf.function``, NMS outside.

OpenVINO's converter cannot read the SavedModel's NMS graph, so the detector alone is converted
(``components.export.raw_model``) and saved as IR with float32 weights (``model.xml`` and
``model.bin``); the runner adds the SavedModel's pre-processing and NMS
(``components.export.prepost``). The CPU plugin runs it in float32 (``precision="fp32"``) or,
on CPUs that have it, bfloat16 (``"bf16"``: faster, about 3 significant digits).
"""

from __future__ import annotations

import os

import numpy as np

from components.export.raw_model import RAW_OUTPUT

PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


def export(location, path: str, int8: bool, images) -> None:
    """Write the IR ``path`` (``.xml``, and its ``.bin`` beside it)."""
    del int8, images
    import openvino as ov

    from components.export.raw_model import load_detector, raw_function

    detector, config = load_detector(location)
    model = ov.convert_model(raw_function(detector, config))
    ov.save_model(model, path, compress_to_fp16=False)


def load_runner(export_dir: str, file_name: str, threads: int, precision: str = "fp32"):
    """A runner of the ``.xml`` file with the NMS outside (``precision``: fp32 or bf16)."""
    import openvino as ov

    from components.export.prepost import RawRunner
    from components.export.raw_model import load_config

    core = ov.Core()
    compiled = core.compile_model(
        os.path.join(export_dir, file_name),
        "CPU",
        {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": PRECISIONS[precision]},
    )
    request = compiled.create_infer_request()
    output = compiled.output(RAW_OUTPUT)

    def network(padded: np.ndarray) -> np.ndarray:
        return np.array(request.infer([padded])[output])

    runner = RawRunner(network, load_config(export_dir))
    runner.precision = precision
    return runner
