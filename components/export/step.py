"""The export command's work: a model in a serving format, checked against its SavedModel.

:func:`run` takes plain values and paths. It writes, into one folder (``runs/export``,
``runs/export2``, ... or ``output_dir``; written aside and renamed into place, so a failed export
leaves nothing):

- the exported file (``model.onnx``, ``model.xml`` + ``model.bin``, ``model.tflite`` or
  ``model_int8.tflite``: the format's table entry, ``components.export.formats``);
- the model's ``detector_config.json`` and ``labels.json`` (the raw formats' runners read the
  config: input size, anchors, NMS settings);
- ``export.json``: the format, file, precision, whether NMS is in the graph, the parity numbers
  and the latency of the format and of the SavedModel measured in the same run.

The parity check (``components.export.parity``) runs by default; when it fails, nothing is
written and a UserError says why.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from importlib import metadata

from components import files
from components.artifacts.model import CONFIG_FILE, LABELS_FILE, ModelLocation
from components.errors import UserError
from components.export import formats, inputs, parity, timing
from components.predict.model_ref import resolve_model

EXPORT_FILE = "export.json"
DEFAULT_OUTPUT = os.path.join("runs", "export")
REFERENCE_SIGNATURE = "serving_default"


def run(
    model: str,
    format: str,
    output_dir: str | None = None,
    int8: bool = False,
    precision: str = "fp32",
    examples: str | None = None,
    images: str | None = None,
    split: str = "test",
    max_images: int = inputs.DEFAULT_LIMIT,
    check: bool = True,
    runs: int = timing.RUNS,
    serving_root: str | None = None,
    model_name: str | None = None,
) -> dict:
    """Export ``model`` to ``format``, check parity, measure latency; return ``export.json``.

    Args:
        model: a Model artifact, a pushed version, or ``production`` (with ``serving_root`` and
            ``model_name``).
        format: a name of ``formats.FORMATS``.
        int8: quantize (formats whose entry allows it), calibrated on the parity images.
        precision: the inference precision of runtimes that choose one (OpenVINO: fp32, bf16).
        examples / images / split / max_images: the parity images (``inputs.parity_images``).
        check: run the parity check (a failure raises UserError and writes nothing).
        runs: timed calls of the latency measurement (0: no measurement).

    Raises:
        UserError: an unknown format, a missing package, bad input, failed parity.
    """
    fmt = formats.get_format(format)
    if int8 and not fmt.int8:
        supported = ", ".join(f.name for f in formats.FORMATS.values() if f.int8)
        raise UserError(f"--int8 does not apply to {fmt.name} (it does to: {supported})")
    if precision not in parity.TOLERANCES or precision == "int8":
        raise UserError(f"unknown precision {precision!r} (known: fp32, bf16)")
    if precision != "fp32" and fmt.name != "openvino":
        raise UserError(f"--precision {precision} applies to openvino only")
    fmt.require_packages()
    location = resolve_model(model, serving_root, model_name)
    for name in (CONFIG_FILE, LABELS_FILE):
        if not files.is_file(files.join(location.root, name)):
            raise UserError(f"{location.root} has no {name}: export needs the model's {name}")
    parity_set = (
        inputs.parity_images(examples, images, split, max_images) if check or int8 else None
    )
    output_dir = os.path.abspath(output_dir or _free_dir(DEFAULT_OUTPUT))
    with files.atomic_output_dir(output_dir) as tmp:
        record = _export(fmt, location, tmp, int8, precision, parity_set, check, runs)
        record["output_dir"] = output_dir
        record["path"] = os.path.join(output_dir, record["file"])
        with open(os.path.join(tmp, EXPORT_FILE), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        if check and not record["parity"]["passed"]:
            raise UserError(
                f"{fmt.name} does not match the SavedModel: {'; '.join(record['parity']['failed'])}"
            )
    return record


def _export(fmt, location: ModelLocation, out, int8, precision, parity_set, check, runs) -> dict:
    from components.evaluate.predict import load_serving_fn
    from components.export.raw_model import load_config

    file_name = fmt.file_name(int8)
    started = time.perf_counter()
    fmt.load("exporter")(
        location, os.path.join(out, file_name), int8, parity_set.images if parity_set else None
    )
    seconds = time.perf_counter() - started
    for name in (CONFIG_FILE, LABELS_FILE):
        shutil.copyfile(files.join(location.root, name), os.path.join(out, name))
    threads = timing.cpu_threads()
    runner = fmt.load("runner")(out, file_name, threads, precision)
    reference = load_serving_fn(location.saved_model_dir, signature=REFERENCE_SIGNATURE)
    config = load_config(location.root)
    record = {
        "format": fmt.name,
        "file": file_name,
        "files": sorted(os.listdir(out)),
        "precision": getattr(runner, "precision", "fp32"),
        "nms_in_graph": fmt.nms_in_graph,
        "model": location.root,
        "input": "uint8 [B, H, W, 3] images of any size"
        if fmt.nms_in_graph
        else f"float32 [1, {config.image_size}, {config.image_size}, 3] resized and padded; "
        "NMS outside the graph",
        "export_seconds": round(seconds, 2),
        "packages": _versions(fmt),
        "parity": None,
        "latency": None,
    }
    if check:
        tol = parity.TOLERANCES["int8" if int8 else record["precision"]]
        record["parity"] = check_parity(reference, runner, parity_set, config, tol)
    if runs > 0:
        image = timing.test_image(int(config.image_size))
        measured = timing.measure_ms({"savedmodel": reference, fmt.name: runner}, image, runs)
        record["latency"] = {
            "threads": threads,
            "batch": 1,
            "image_size": int(config.image_size),
            **measured,
            "speedup": round(
                measured["savedmodel"]["median_ms"] / measured[fmt.name]["median_ms"], 3
            ),
        }
    return record


def check_parity(reference, runner, parity_set, config, tol) -> dict:
    """Run both on every parity image; the ``parity.summarize`` numbers (with the AP pair when
    the images have ground truth)."""
    from components.metrics import coco_eval

    cut = float(config.postprocess.score_threshold)
    max_det = int(config.postprocess.max_detections)
    per_image, ref_dets, fmt_dets = [], [], []
    for image_id, image in enumerate(parity_set.images, start=1):
        ref = parity.to_detections(reference(image[None]), image_id)
        got = parity.to_detections(runner(image[None]), image_id)
        per_image.append(parity.compare_image(ref, got, cut, max_det, tol))
        ref_dets.append(ref)
        fmt_dets.append(got)
    ap = None
    if parity_set.truth is not None:
        ap = tuple(
            coco_eval.evaluate(parity_set.truth, dets, parity_set.categories)["metrics"]["AP"]
            for dets in (ref_dets, fmt_dets)
        )
    result = parity.summarize(per_image, tol, ap)
    result["source"] = parity_set.source
    result["reference"] = f"SavedModel {REFERENCE_SIGNATURE}"
    return result


def _versions(fmt) -> dict[str, str]:
    found = {}
    for _, pip in fmt.packages:
        try:
            found[pip] = metadata.version(pip)
        except metadata.PackageNotFoundError:
            found[pip] = "unknown"
    return found


def _free_dir(base: str) -> str:
    if not os.path.exists(base):
        return base
    n = 2
    while os.path.exists(f"{base}{n}"):
        n += 1
    return f"{base}{n}"
