"""``nasdet push --export``: other serving formats inside the version, each with its parity record."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from components.errors import UserError
from components.push import run as push_run
from components.push.cli import main
from tests.components.export.conftest import save_tiny_model
from tests.components.push.conftest import bless


@pytest.fixture(scope="module")
def _detector(tmp_path_factory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("push-detector"))


@pytest.fixture
def detector_and_blessing(tmp_path, _detector):
    """(model_dir, blessing_file) of a blessed tiny detector (a real one: export needs its
    config), copied into this test's tmp_path. The blessing names no readable Examples, so the
    parity check runs on the bundled images."""
    model = str(tmp_path / "model")
    shutil.copytree(_detector, model)
    return model, bless(model, True, str(tmp_path / "blessing.json"))


def _argv(model: str, blessing: str, serving: str, formats: str) -> list[str]:
    return [
        *("--model", model, "--blessing", blessing, "--serving-root", serving),
        *("--model-name", "det", "--export", formats),
    ]


def test_push_with_onnx_publishes_the_file_and_its_parity_record(
    tmp_path, detector_and_blessing, capsys
):
    model, blessing = detector_and_blessing
    serving = tmp_path / "serving"
    assert main(_argv(model, blessing, str(serving), "onnx")) == 0
    assert "with onnx: exports/onnx/model.onnx (parity passed:" in capsys.readouterr().out

    version = serving / "det" / "1"
    folder = version / "exports" / "onnx"
    assert sorted(os.listdir(folder)) == [
        "detector_config.json",
        "export.json",
        "labels.json",
        "model.onnx",
    ]
    record = json.loads((folder / "export.json").read_text())
    assert record["format"] == "onnx" and record["parity"]["passed"]
    assert record["path"] == "exports/onnx/model.onnx" and record["output_dir"] == "exports/onnx"
    assert record["parity"]["source"].endswith(os.path.join("raccoon", "images"))
    pushed = json.loads((version / "push.json").read_text())
    assert pushed["exports"]["onnx"]["parity"] == record["parity"]
    assert pushed["exports"]["onnx"]["file"] == "exports/onnx/model.onnx"
    assert pushed["load_check"]["passed"]  # the checked copy held the exports already
    assert (version / "saved_model.pb").is_file()  # the TF Serving layout is untouched
    (exported,) = json.loads((version / "model_card.json").read_text())["exports"]
    assert exported["format"] == "onnx" and exported["parity_passed"]
    card = (version / "model_card.md").read_text()
    assert "| onnx | `exports/onnx/model.onnx` (fp32): parity with the SavedModel" in card
    assert sorted(os.listdir(serving / "det")) == [".last_version", "1"]


def test_an_unknown_format_is_one_line_and_pushes_nothing(tmp_path, model_and_blessing, capsys):
    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    assert main(_argv(model, blessing, str(serving), "onnx,onxx")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --export: unknown export format 'onxx'")
    assert err.count("\n") == 1 and "(known: onnx, openvino, tflite)" in err
    with pytest.raises(UserError, match="unknown export format 'trt'"):
        push_run(model, blessing, str(serving), "det", export_formats=("trt",))
    assert not serving.exists()


def test_a_format_failing_its_parity_check_refuses_the_push(
    tmp_path, detector_and_blessing, monkeypatch, capsys
):
    from components.evaluate.predict import load_serving_fn
    from components.export import onnx_format

    model, blessing = detector_and_blessing

    def fake_export(location, path, int8, images):  # no tf2onnx: the runner below is the test
        with open(path, "wb") as f:
            f.write(b"onnx")

    def shifted_runner(export_dir, file_name, threads, precision="fp32"):
        serve = load_serving_fn(os.path.join(model, "saved_model"), signature="serving_default")

        def run(images):  # the SavedModel's detections, a tenth of the image off
            outputs = dict(serve(images))
            outputs["detection_boxes"] = np.clip(outputs["detection_boxes"] + 0.1, 0, 1)
            return outputs

        run.precision = "fp32"
        return run

    monkeypatch.setattr(onnx_format, "export", fake_export)
    monkeypatch.setattr(onnx_format, "load_runner", shifted_runner)
    serving = tmp_path / "serving"
    assert main(_argv(model, blessing, str(serving), "onnx")) == 2
    err = capsys.readouterr().err
    failed = "error: the onnx export failed, nothing was published: onnx does not match the"
    assert err.startswith(failed + " SavedModel: ")
    assert err.count("\n") == 1
    assert os.listdir(serving / "det") == []  # no version, no staging folder left
