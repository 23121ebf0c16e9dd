"""COCO box metrics of a detector on a split of the Examples: the 12 numbers, per-class AP, PR curves.

Ground truth comes from the Examples (normalised boxes, classes 1..K, is_crowd, area) and
detections from the exported model (normalised boxes of the original image). Both are turned
into COCO pixel boxes ``[x, y, w, h]`` of the original image, so the numbers are comparable with
any other COCO evaluation of the same images.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from components.metrics import evaluators

METRIC_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)
# (ap?, iou threshold or None, area label, max detections) of each of the 12 numbers, in the
# order and with the definitions of pycocotools' COCOeval.summarize().
_SUMMARY = (
    (True, None, "all", 100),
    (True, 0.5, "all", 100),
    (True, 0.75, "all", 100),
    (True, None, "small", 100),
    (True, None, "medium", 100),
    (True, None, "large", 100),
    (False, None, "all", 1),
    (False, None, "all", 10),
    (False, None, "all", 100),
    (False, None, "small", 100),
    (False, None, "medium", 100),
    (False, None, "large", 100),
)


@dataclasses.dataclass
class ImageTruth:
    """One eval image and its ground truth, boxes normalised ``[ymin, xmin, ymax, xmax]``."""

    image_id: int
    source_id: str
    width: int
    height: int
    boxes: np.ndarray  # float [N, 4]
    classes: np.ndarray  # int [N], 1..K
    is_crowd: np.ndarray  # int [N]
    area: np.ndarray  # float [N], pixels; <= 0 means "use the box area"


@dataclasses.dataclass
class ImageDetections:
    """The detections of one model on one image, boxes normalised ``[ymin, xmin, ymax, xmax]``."""

    image_id: int
    boxes: np.ndarray  # float [N, 4]
    scores: np.ndarray  # float [N]
    classes: np.ndarray  # int [N]


def _pixel_xywh(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised ``[ymin, xmin, ymax, xmax]`` rows -> pixel ``[x, y, w, h]`` rows."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x = boxes[:, 1] * width
    y = boxes[:, 0] * height
    w = (boxes[:, 3] - boxes[:, 1]) * width
    h = (boxes[:, 2] - boxes[:, 0]) * height
    return np.stack([x, y, w, h], axis=1)


def ground_truth_dict(images: list[ImageTruth], categories: list[dict]) -> dict:
    """The COCO instances dict of ``images`` with ``categories`` (``[{"id", "name"}, ...]``).

    The area of a box is the Examples' ``area`` when positive (COCO's segmentation area), else
    the box area in pixels; it decides the small / medium / large bucket as in COCO.
    """
    annotations = []
    for img in images:
        xywh = _pixel_xywh(img.boxes, img.width, img.height)
        for i, (x, y, w, h) in enumerate(xywh):
            area = float(img.area[i]) if i < len(img.area) and img.area[i] > 0 else float(w * h)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": img.image_id,
                    "category_id": int(img.classes[i]),
                    "bbox": [float(x), float(y), float(w), float(h)],
                    "area": area,
                    "iscrowd": int(img.is_crowd[i]) if i < len(img.is_crowd) else 0,
                }
            )
    return {
        "images": [
            {"id": img.image_id, "width": int(img.width), "height": int(img.height)}
            for img in images
        ],
        "annotations": annotations,
        "categories": [{"id": int(c["id"]), "name": str(c["name"])} for c in categories],
    }


def detections_list(images: list[ImageTruth], detections: list[ImageDetections]) -> list[dict]:
    """COCO results (``image_id``, ``category_id``, pixel ``bbox``, ``score``) of ``detections``."""
    sizes = {img.image_id: (img.width, img.height) for img in images}
    results = []
    for det in detections:
        width, height = sizes[det.image_id]
        xywh = _pixel_xywh(det.boxes, width, height)
        for (x, y, w, h), score, cls in zip(xywh, det.scores, det.classes, strict=True):
            results.append(
                {
                    "image_id": det.image_id,
                    "category_id": int(cls),
                    "bbox": [float(x), float(y), float(w), float(h)],
                    "score": float(score),
                }
            )
    return results


def _mean_valid(values: np.ndarray) -> float:
    """Mean of the entries > -1 (COCO's "no ground truth" marker); -1.0 when there are none."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def summary(acc: evaluators.Accumulated) -> dict[str, float]:
    """The 12 COCO numbers (``METRIC_NAMES``) from accumulated arrays, as COCOeval.summarize().

    A number is -1.0 when no ground truth falls in its bucket (COCO's convention).
    """
    numbers = {}
    for name, (is_ap, iou, area, max_det) in zip(METRIC_NAMES, _SUMMARY, strict=True):
        a = acc.area_labels.index(area)
        m = acc.max_dets.index(max_det)
        values = acc.precision[:, :, :, a, m] if is_ap else acc.recall[:, :, a, m]
        if iou is not None:
            values = values[np.where(np.isclose(acc.iou_thresholds, iou))[0]]
        numbers[name] = _mean_valid(values)
    return numbers


def _all_areas_100_dets(acc: evaluators.Accumulated) -> tuple[int, int, int, int]:
    """The indices of area "all" and 100 detections, and of IoU 0.5 and 0.75, in ``acc``."""
    a = acc.area_labels.index("all")
    m = acc.max_dets.index(100)
    t50 = int(np.where(np.isclose(acc.iou_thresholds, 0.5))[0][0])
    t75 = int(np.where(np.isclose(acc.iou_thresholds, 0.75))[0][0])
    return a, m, t50, t75


def per_class(acc: evaluators.Accumulated, names: dict[int, str]) -> dict[str, dict[str, float]]:
    """Per-class AP, AP50, AP75 and AR100 (area "all"), keyed by class name (id when unnamed)."""
    a, m, t50, t75 = _all_areas_100_dets(acc)
    table = {}
    for k, cat_id in enumerate(acc.cat_ids):
        precision = acc.precision[:, :, k, a, m]
        table[names.get(cat_id, str(cat_id))] = {
            "id": cat_id,
            "AP": _mean_valid(precision),
            "AP50": _mean_valid(precision[t50]),
            "AP75": _mean_valid(precision[t75]),
            "AR100": _mean_valid(acc.recall[:, k, a, m]),
        }
    return table


def box_counts(images: list[ImageTruth]) -> dict[int, int]:
    """The number of (non-crowd) ground-truth boxes of each class id in ``images``."""
    counts: dict[int, int] = {}
    for image in images:
        crowd = np.asarray(image.is_crowd).reshape(-1)
        for k, cls in enumerate(np.asarray(image.classes).reshape(-1)):
            if not (k < len(crowd) and crowd[k]):
                counts[int(cls)] = counts.get(int(cls), 0) + 1
    return counts


def pr_curves(acc: evaluators.Accumulated, names: dict[int, str]) -> dict:
    """Precision at COCO's 101 recall points, per class, at IoU 0.5, 0.75 and averaged over IoU.

    Returns ``{"recall": [...], "classes": {name: {"iou50": [...], "iou75": [...],
    "mean": [...]}}}``; a precision of -1 marks a class without ground truth.
    """
    a, m, t50, t75 = _all_areas_100_dets(acc)
    classes = {}
    for k, cat_id in enumerate(acc.cat_ids):
        p = acc.precision[:, :, k, a, m]
        mean = np.where((p > -1).all(axis=0), np.clip(p, 0, None).mean(axis=0), -1.0)
        classes[names.get(cat_id, str(cat_id))] = {
            "iou50": [round(float(v), 6) for v in p[t50]],
            "iou75": [round(float(v), 6) for v in p[t75]],
            "mean": [round(float(v), 6) for v in mean],
        }
    return {"recall": [round(float(r), 6) for r in acc.recall_thresholds], "classes": classes}


def evaluate(
    images: list[ImageTruth],
    detections: list[ImageDetections],
    categories: list[dict],
    evaluator: str = evaluators.DEFAULT_EVALUATOR,
) -> dict:
    """COCO metrics of ``detections`` on ``images``.

    Returns ``{"metrics": {12 numbers}, "per_class": {...}, "pr_curves": {...}}`` computed with
    ``evaluator`` (faster-coco-eval by default, pycocotools as the reference).
    """
    gt = ground_truth_dict(images, categories)
    acc = evaluators.accumulate(gt, detections_list(images, detections), evaluator)
    names = {int(c["id"]): str(c["name"]) for c in categories}
    table = per_class(acc, names)
    counts = box_counts(images)
    for row in table.values():
        row["num_boxes"] = counts.get(row["id"], 0)
    return {
        "metrics": summary(acc),
        "per_class": table,
        "pr_curves": pr_curves(acc, names),
    }
