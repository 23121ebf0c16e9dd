"""``components.export.run``: each format exported, checked against the SavedModel, timed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from components.errors import UserError
from components.export import run
from components.export.step import EXPORT_FILE


@pytest.mark.parametrize(
    ("fmt", "int8"), [("onnx", False), ("openvino", False), ("tflite", False), ("tflite", True)]
)
def test_each_format_matches_the_saved_model(tiny_model, sample_images, tmp_path, fmt, int8):
    out = tmp_path / "export"
    record = run(tiny_model, fmt, output_dir=str(out), int8=int8, images=str(sample_images), runs=3)
    assert json.loads((out / EXPORT_FILE).read_text()) == record
    assert os.path.isfile(record["path"]) and record["path"].startswith(str(out))
    assert {"detector_config.json", "labels.json"} <= set(os.listdir(out))
    p = record["parity"]
    assert p["passed"], p
    assert p["images"] == 4 and p["compared"] >= 40  # 20 detections an image, minus cut-offs
    if int8:
        assert record["precision"] == "int8" and p["matched_fraction"] >= 0.8
    else:
        assert record["precision"] == "fp32" and p["matched_fraction"] >= 0.99
        assert p["max_score_diff"] < 1e-3 and p["min_iou"] > 0.99
    latency = record["latency"]
    assert latency["savedmodel"]["median_ms"] > 0 and latency[fmt]["median_ms"] > 0
    assert latency["threads"] >= 1 and latency["batch"] == 1


def test_ap_on_an_examples_split_is_compared(tiny_model, test_examples, tmp_path):
    record = run(tiny_model, "tflite", output_dir=str(tmp_path / "e"), examples=str(test_examples))
    p = record["parity"]
    assert p["passed"] and p["images"] == 4
    assert abs(p["ap_format"] - p["ap_savedmodel"]) <= 0.001 and p["ap_diff"] == pytest.approx(
        p["ap_format"] - p["ap_savedmodel"], abs=1e-6
    )


def test_failed_parity_is_an_error_and_writes_nothing(
    tiny_model, sample_images, tmp_path, monkeypatch
):
    from components.export import tflite_format

    real = tflite_format.load_runner

    def shifted(*args, **kwargs):  # a runtime whose boxes are off by a tenth of the image
        runner = real(*args, **kwargs)

        def run_shifted(images):
            outputs = dict(runner(images))
            outputs["detection_boxes"] = np.clip(outputs["detection_boxes"] + 0.1, 0, 1)
            return outputs

        run_shifted.precision = "fp32"
        return run_shifted

    monkeypatch.setattr(tflite_format, "load_runner", shifted)
    out = tmp_path / "bad"
    with pytest.raises(UserError, match=r"tflite does not match the SavedModel: \d+ of \d+"):
        run(tiny_model, "tflite", output_dir=str(out), images=str(sample_images), runs=0)
    assert not out.exists()


def test_bad_requests_are_user_errors(tiny_model, tmp_path):
    with pytest.raises(UserError, match="--int8 does not apply to onnx"):
        run(tiny_model, "onnx", int8=True)
    with pytest.raises(UserError, match="applies to openvino only"):
        run(tiny_model, "tflite", precision="bf16")
    with pytest.raises(UserError, match="does not exist"):
        run(str(tmp_path / "none"), "tflite")
    with pytest.raises(UserError, match="not both"):
        run(tiny_model, "tflite", examples="x", images="y")
