"""Requests and responses of ``nasdet serve``: the KServe v1 and Open Inference (v2) protocols.

Images arrive either encoded (JPEG, PNG, ...) and base64-encoded, or as uint8 pixel tensors:

- v1 (``POST /v1/models/<name>:predict``): ``{"instances": [...]}``, each instance
  ``{"b64": "<base64 image>"}`` (TensorFlow Serving's convention for binary values) or a nested
  list of uint8 pixels [H, W, 3]. The answer is ``{"predictions": [...]}``, one per instance:
  ``{"boxes": [[ymin, xmin, ymax, xmax], ...], "scores": [...], "class_ids": [...],
  "class_names": [...], "num_detections": n}`` (boxes normalised to the image).
- v2 (``POST /v2/models/<name>/infer``): one input ``images``, ``BYTES`` [B] (base64 strings
  in JSON; raw bytes with the binary extension) or ``UINT8`` [B, H, W, 3]. The answer has the
  outputs ``detection_boxes`` FP32 [B, N, 4], ``detection_scores`` FP32 [B, N],
  ``detection_classes`` INT32 [B, N] (class ids, 0 in padding), ``num_detections`` INT32 [B]
  and ``class_names`` BYTES [B, N] ("" in padding).

Encoded images go through the SavedModel's ``serving_bytes`` signature, pixels through
``serving_default``: what the model computes is the model's, nothing is decoded here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

import numpy as np

INPUT_NAME = "images"


class BadRequest(ValueError):
    """A request the server refuses (HTTP 400), with a one-line reason."""


@dataclasses.dataclass
class Batch:
    """The images of one request: encoded bytes, or pixel arrays (one per image)."""

    encoded: list[bytes] | None = None
    pixels: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.encoded if self.encoded is not None else self.pixels)


def _b64(text, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError) as err:
        raise BadRequest(f"{where}: not base64 ({err})") from None


def _pixels(value, where: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as err:
        raise BadRequest(f"{where}: not a rectangular array ({err})") from None
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2], default=0) < 1:
        raise BadRequest(f"{where}: pixels must be [H, W, 3], got shape {list(array.shape)}")
    if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
        raise BadRequest(f"{where}: pixels must be integers 0..255")
    return array.astype(np.uint8)


def parse_v1(payload) -> Batch:
    """The images of a v1 ``{"instances": [...]}`` body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise BadRequest('expected a JSON object with a list "instances"')
    instances = payload["instances"]
    if not instances:
        raise BadRequest('"instances" is empty')
    encoded = [isinstance(i, dict) for i in instances]
    if any(encoded) and not all(encoded):
        raise BadRequest('mix of {"b64": ...} and pixel instances in one request')
    if all(encoded):
        out = []
        for n, instance in enumerate(instances):
            if set(instance) != {"b64"}:
                raise BadRequest(f'instance {n}: expected {{"b64": "<base64 image>"}}')
            out.append(_b64(instance["b64"], f"instance {n}"))
        return Batch(encoded=out)
    return Batch(pixels=[_pixels(i, f"instance {n}") for n, i in enumerate(instances)])


def parse_v2(request) -> Batch:
    """The images of a v2 ``InferRequest`` (its ``images`` input)."""
    inputs = [i for i in request.inputs if i.name == INPUT_NAME]
    if len(request.inputs) != 1 or not inputs:
        names = [i.name for i in request.inputs]
        raise BadRequest(f"expected one input named {INPUT_NAME!r}, got {names}")
    tensor = inputs[0]
    if tensor.datatype == "BYTES":
        values = tensor.as_numpy().reshape(-1)
        out = []
        for n, value in enumerate(values):
            if isinstance(value, bytes):  # binary extension (or gRPC): the image itself
                out.append(value)
            else:  # JSON: base64 text
                out.append(_b64(str(value), f"images[{n}]"))
        if not out:
            raise BadRequest("images is empty")
        return Batch(encoded=out)
    if tensor.datatype == "UINT8":
        array = tensor.as_numpy()
        if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] < 1:
            raise BadRequest(f"UINT8 images must be [B, H, W, 3], got {list(array.shape)}")
        return Batch(pixels=list(array))
    raise BadRequest(f"images must be BYTES (encoded images) or UINT8, got {tensor.datatype}")


def detections(outputs: dict, names: dict[int, str]) -> list[dict]:
    """One ``{"boxes", "scores", "class_ids", "class_names", "num_detections"}`` per image of
    the model's batched ``outputs`` (only the first ``num_detections`` rows)."""
    out = []
    for row in range(len(outputs["num_detections"])):
        n = int(round(float(outputs["num_detections"][row])))
        ids = [int(round(float(c))) for c in outputs["detection_classes"][row][:n]]
        out.append(
            {
                "boxes": np.asarray(outputs["detection_boxes"][row][:n]).tolist(),
                "scores": np.asarray(outputs["detection_scores"][row][:n]).tolist(),
                "class_ids": ids,
                "class_names": [names.get(i, str(i)) for i in ids],
                "num_detections": n,
            }
        )
    return out


def v1_response(per_image: list[dict]) -> dict:
    """The v1 answer."""
    return {"predictions": per_image}


def v2_outputs(per_image: list[dict]) -> list[tuple[str, str, np.ndarray]]:
    """``(name, datatype, array)`` of each v2 output, padded to the batch's most detections."""
    batch = len(per_image)
    width = max([d["num_detections"] for d in per_image] + [0])
    boxes = np.zeros([batch, width, 4], np.float32)
    scores = np.zeros([batch, width], np.float32)
    classes = np.zeros([batch, width], np.int32)
    names = np.full([batch, width], b"", dtype=object)
    for row, det in enumerate(per_image):
        n = det["num_detections"]
        if n:
            boxes[row, :n] = det["boxes"]
            scores[row, :n] = det["scores"]
            classes[row, :n] = det["class_ids"]
            names[row, :n] = [s.encode() for s in det["class_names"]]
    counts = np.array([d["num_detections"] for d in per_image], np.int32)
    return [
        ("detection_boxes", "FP32", boxes),
        ("detection_scores", "FP32", scores),
        ("detection_classes", "INT32", classes),
        ("num_detections", "INT32", counts),
        ("class_names", "BYTES", names),
    ]
