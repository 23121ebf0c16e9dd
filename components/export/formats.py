"""The serving formats ``nasdet export`` writes: one table, one entry per format.

Each entry says the file it writes (its suffix), the Python packages it needs (import name and
the pip name to install), whether NMS is inside the exported graph, whether ``--int8`` applies,
and where its exporter and runner live (``module:function``, imported on use, so listing the
formats needs none of the packages).

Two kinds of graph:

- **with NMS inside** (``onnx``): the SavedModel's ``serving_default`` converted as it is:
  uint8 images of any size in, the four detection outputs out;
- **raw** (``openvino``, ``tflite``): the detector network alone (float32 [1, S, S, 3] padded
  images in, class logits and box deltas out), with the resize-and-pad and the very NMS of the
  SavedModel run outside the graph (``components.export.prepost``). OpenVINO cannot convert
  the SavedModel's NMS graph, and outside the graph the NMS costs about a millisecond.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util

from components.errors import UserError, did_you_mean


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """One serving format: what it writes, what it needs, how it is exported and run."""

    name: str
    title: str
    suffix: str  # of the main exported file ("model" + suffix)
    packages: tuple[tuple[str, str], ...]  # (import name, pip name)
    nms_in_graph: bool
    int8: bool  # --int8 applies
    exporter: str  # "module:function(location, path, int8, images)": writes path
    runner: str  # "module:function(export_dir, file_name, threads, precision) -> runner"

    def file_name(self, int8: bool = False) -> str:
        """The exported file's name in its folder (``model.onnx``, ``model_int8.tflite``)."""
        return ("model_int8" if int8 else "model") + self.suffix

    def missing_packages(self) -> list[str]:
        """The pip names of the needed packages that are not installed."""
        return [pip for module, pip in self.packages if importlib.util.find_spec(module) is None]

    def require_packages(self) -> None:
        """Raise UserError naming each needed package that is not installed."""
        missing = self.missing_packages()
        if missing:
            raise UserError(
                f"the {self.name} format needs the package(s) {', '.join(missing)} "
                f"(pip install {' '.join(missing)})"
            )

    def load(self, which: str):
        """The exporter or runner function (``which`` is "exporter" or "runner")."""
        module, function = getattr(self, which).split(":")
        return getattr(importlib.import_module(module), function)


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            name="onnx",
            title="ONNX (ONNX Runtime), opset 17, from the SavedModel by tf2onnx",
            suffix=".onnx",
            packages=(("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime")),
            nms_in_graph=True,
            int8=False,
            exporter="components.export.onnx_format:export",
            runner="components.export.onnx_format:load_runner",
        ),
        ExportFormat(
            name="openvino",
            title="OpenVINO IR (model.xml + model.bin), the raw network",
            suffix=".xml",
            packages=(("openvino", "openvino"),),
            nms_in_graph=False,
            int8=False,
            exporter="components.export.openvino_format:export",
            runner="components.export.openvino_format:load_runner",
        ),
        ExportFormat(
            name="tflite",
            title="LiteRT (TensorFlow Lite) flatbuffer, the raw network, variables frozen",
            suffix=".tflite",
            packages=(("tensorflow", "tensorflow"),),
            nms_in_graph=False,
            int8=True,
            exporter="components.export.tflite_format:export",
            runner="components.export.tflite_format:load_runner",
        ),
    )
}


def get_format(name: str) -> ExportFormat:
    """The format called ``name``; UserError listing the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(
            f"unknown export format {name!r}{did_you_mean(name, FORMATS)} "
            f"(known: {', '.join(FORMATS)})"
        ) from None


def export_formats() -> list[dict]:
    """The table of formats (one dict per format), as ``nasdet export --list`` prints it."""
    return [
        {
            "format": f.name,
            "file": f.file_name(),
            "needs": ", ".join(pip for _, pip in f.packages),
            "nms_in_graph": f.nms_in_graph,
            "int8": f.int8,
            "installed": not f.missing_packages(),
            "description": f.title,
        }
        for f in FORMATS.values()
    ]


def parse_names(text: str) -> tuple[str, ...]:
    """The format names of a comma-separated list (``"onnx, openvino"``), in order, each once;
    empty items are ignored, so ``""`` is none. UserError for a name not in the table."""
    names: list[str] = []
    for item in text.split(","):
        name = item.strip()
        if name and name not in names:
            names.append(get_format(name).name)
    return tuple(names)
