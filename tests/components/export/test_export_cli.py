"""``nasdet export``: the table, one-line errors with exit status 2, a real export."""

from __future__ import annotations

import importlib.util
import json

from components.export import cli
from pipelines import cli as nasdet


def test_list_prints_the_table(capsys):
    assert nasdet.main(["export", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["format", "file", "needs"]
    assert [line.split()[0] for line in out[1:]] == ["onnx", "openvino", "tflite"]


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_bad_usage_is_one_line_and_status_2(tiny_model, tmp_path, capsys):
    assert cli.main(["--model", tiny_model, "--format", "pdf"]) == 2
    assert "unknown export format 'pdf'" in _error(capsys)
    assert cli.main(["--model", str(tmp_path / "missing"), "--format", "tflite"]) == 2
    assert "does not exist" in _error(capsys)
    assert cli.main(["--format", "tflite"]) == 2
    assert "--model and --format are required" in _error(capsys)
    assert cli.main(["--model", tiny_model, "--format", "onnx", "--int8"]) == 2
    assert "--int8 does not apply" in _error(capsys)
    assert cli.main(["--model", tiny_model, "--format", "tflite", "--images", "nowhere"]) == 2
    assert "no such file or folder" in _error(capsys)


def test_a_missing_package_is_named(tiny_model, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name)
    )
    assert cli.main(["--model", tiny_model, "--format", "onnx"]) == 2
    assert "needs the package(s) tf2onnx (pip install tf2onnx)" in _error(capsys)


def test_export_writes_the_file_and_export_json(tiny_model, sample_images, tmp_path, capsys):
    out = tmp_path / "tfl"
    argv = ["--model", tiny_model, "--format", "tflite", "--output", str(out)]
    assert nasdet.main(["export", *argv, "--images", str(sample_images), "--runs", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "export.json").read_text())
    assert printed["parity"]["passed"] and (out / "model.tflite").is_file()
