"""The table of formats: names, files, packages, unknown names and missing packages."""

from __future__ import annotations

import importlib.util

import pytest

from components.errors import UserError
from components.export import formats


def test_every_format_names_its_file_packages_and_nms():
    rows = {row["format"]: row for row in formats.export_formats()}
    assert set(rows) == {"onnx", "openvino", "tflite"}
    assert rows["onnx"]["file"] == "model.onnx" and rows["onnx"]["nms_in_graph"] is True
    assert "tf2onnx" in rows["onnx"]["needs"] and "onnxruntime" in rows["onnx"]["needs"]
    assert rows["openvino"]["file"] == "model.xml" and rows["openvino"]["nms_in_graph"] is False
    assert rows["tflite"]["int8"] is True and rows["onnx"]["int8"] is False
    assert formats.FORMATS["tflite"].file_name(int8=True) == "model_int8.tflite"
    for fmt in formats.FORMATS.values():  # the exporter and runner named in the table exist
        assert callable(fmt.load("exporter")) and callable(fmt.load("runner"))


def test_an_unknown_format_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown export format 'onx'.*onnx, openvino, tflite"):
        formats.get_format("onx")


def test_a_missing_package_is_named_with_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name)
    )
    fmt = formats.get_format("openvino")
    assert fmt.missing_packages() == ["openvino"]
    with pytest.raises(UserError, match="needs the package.*openvino.*pip install openvino"):
        fmt.require_packages()
    formats.get_format("tflite").require_packages()  # tensorflow is there


def test_a_list_of_format_names_is_parsed_in_order_each_once():
    assert formats.parse_names("") == ()
    assert formats.parse_names(" onnx, tflite,,onnx ,") == ("onnx", "tflite")
    with pytest.raises(UserError, match=r"unknown export format 'onxx' \(did you mean 'onnx'"):
        formats.parse_names("tflite,onxx")
