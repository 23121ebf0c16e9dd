"""Parity of an exported format with the SavedModel: the same images through both.

Per image, each detection of one model is matched to the unmatched detection of the same class
with the highest IoU in the other (both directions; the worse direction counts). It is matched
when the IoU and the score difference are within the tolerance of the format's precision.
Detections within the score tolerance of a cut-off (the score threshold, or the lowest kept
score when ``max_detections`` are kept) are not compared: which of two near-equal scores
survives the cut is a coin toss for any rounding. With ground truth (an Examples split), the
COCO AP of both is computed the same way and compared too.

Float32 runtimes should agree to rounding; reduced precision (bf16, int8) is held to the AP
rule (within 0.01) and a looser match.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from components.metrics.coco_eval import ImageDetections


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How close a format must be: AP difference, score difference, IoU, matched fraction."""

    ap: float
    score: float
    iou: float
    matched: float


TOLERANCES = {
    "fp32": Tolerance(ap=0.001, score=1e-3, iou=0.99, matched=0.99),
    "bf16": Tolerance(ap=0.01, score=0.02, iou=0.9, matched=0.9),
    "int8": Tolerance(ap=0.01, score=0.05, iou=0.8, matched=0.8),
}


def to_detections(outputs: dict[str, np.ndarray], image_id: int, row: int = 0) -> ImageDetections:
    """Row ``row`` of a detection dict as ImageDetections (its first ``num_detections``)."""
    n = int(np.asarray(outputs["num_detections"][row]).round())
    return ImageDetections(
        image_id=image_id,
        boxes=np.asarray(outputs["detection_boxes"][row][:n], dtype=np.float64).reshape(-1, 4),
        scores=np.asarray(outputs["detection_scores"][row][:n], dtype=np.float64),
        classes=np.asarray(outputs["detection_classes"][row][:n]).round().astype(np.int64),
    )


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box [4] with each of ``boxes`` [N, 4] (ymin, xmin, ymax, xmax)."""
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)


def _cutoff(dets: ImageDetections, threshold: float, max_det: int) -> float:
    return float(dets.scores.min()) if len(dets.scores) >= max_det else threshold


def _one_way(a: ImageDetections, b: ImageDetections, floor: float, tol: Tolerance) -> dict:
    """Match the detections of ``a`` scoring at least ``floor`` against ``b``."""
    used = np.zeros(len(b.scores), dtype=bool)
    compared = matched = 0
    score_diffs, ious = [], []
    for i in np.argsort(-a.scores, kind="stable"):
        if a.scores[i] < floor:
            continue
        compared += 1
        free = np.flatnonzero((b.classes == a.classes[i]) & ~used)
        if free.size == 0:
            continue
        overlaps = iou(a.boxes[i], b.boxes[free])
        j = free[int(np.argmax(overlaps))]
        diff = abs(float(a.scores[i] - b.scores[j]))
        best = float(overlaps.max())
        score_diffs.append(diff)
        ious.append(best)
        if best >= tol.iou and diff <= tol.score:
            used[j] = True
            matched += 1
    return {"compared": compared, "matched": matched, "score_diffs": score_diffs, "ious": ious}


def compare_image(
    ref: ImageDetections, cand: ImageDetections, threshold: float, max_det: int, tol: Tolerance
) -> dict:
    """Counts and differences of one image's detections (see the module docstring)."""
    floor = max(_cutoff(ref, threshold, max_det), _cutoff(cand, threshold, max_det)) + tol.score
    ways = [_one_way(ref, cand, floor, tol), _one_way(cand, ref, floor, tol)]
    worst = min(ways, key=lambda w: (w["matched"] / w["compared"]) if w["compared"] else 1.0)
    return {
        "compared": worst["compared"],
        "matched": worst["matched"],
        "max_score_diff": max((d for w in ways for d in w["score_diffs"]), default=0.0),
        "ious": [v for w in ways for v in w["ious"]],
        "detections": [len(ref.scores), len(cand.scores)],
    }


def summarize(per_image: list[dict], tol: Tolerance, ap: tuple[float, float] | None) -> dict:
    """The parity numbers over all images and whether they pass ``tol``.

    ``ap`` is the (SavedModel, format) COCO AP pair, or None without ground truth.
    """
    compared = sum(p["compared"] for p in per_image)
    matched = sum(p["matched"] for p in per_image)
    ious = [v for p in per_image for v in p["ious"]]
    fraction = matched / compared if compared else None
    result = {
        "images": len(per_image),
        "detections_savedmodel": sum(p["detections"][0] for p in per_image),
        "detections_format": sum(p["detections"][1] for p in per_image),
        "compared": compared,
        "matched": matched,
        "matched_fraction": None if fraction is None else round(fraction, 6),
        "max_score_diff": float(f"{max((p['max_score_diff'] for p in per_image), default=0):.3g}"),
        "min_iou": round(min(ious), 6) if ious else None,
        "mean_iou": round(float(np.mean(ious)), 6) if ious else None,
        "tolerance": dataclasses.asdict(tol),
    }
    reasons = []
    if not compared:
        reasons.append("no detections to compare (give images the model detects something on)")
    elif fraction < tol.matched:
        reasons.append(f"{matched} of {compared} detections matched (needs {tol.matched:.0%})")
    if ap is not None:
        diff = abs(ap[1] - ap[0])
        result.update(ap_savedmodel=round(ap[0], 6), ap_format=round(ap[1], 6))
        result["ap_diff"] = round(ap[1] - ap[0], 6)
        if diff > tol.ap:
            reasons.append(
                f"AP {ap[1]:.4f} against the SavedModel's {ap[0]:.4f} (tolerance {tol.ap})"
            )
    result["passed"] = not reasons
    result["failed"] = reasons
    return result
