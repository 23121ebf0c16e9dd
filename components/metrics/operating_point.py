"""Where to cut the scores: precision, recall and F1 against confidence, the best-F1 threshold
and the confusion matrix there (IoU 0.5, as Ultralytics' and TFX's detection reports).

Matching, per image, detections in descending score: a detection is a true positive when an
unmatched ground-truth box of its class overlaps it with IoU >= ``iou``; one that overlaps a
crowd box (and no other) is ignored, as COCO does; any other is a false positive. Because a
detection's match never depends on lower-scored ones, one pass gives the counts at every
threshold: precision and recall at ``t`` count the detections scoring at least ``t``.

The confusion matrix matches regardless of class (the best-IoU unmatched box, IoU >= ``iou``)
so a wrong class shows as a cell off the diagonal: rows are the true class, columns the
predicted one, and index 0 is background (row 0: false positives, column 0: missed boxes).
Crowd boxes are not counted, nor are detections left on them. Thresholds compare with the
float32 scores as served (``score >= t``), the rule ``nasdet predict`` applies.
"""

from __future__ import annotations

import numpy as np

from components.metrics.coco_eval import ImageDetections, ImageTruth

IOU = 0.5
THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)
MIN_THRESHOLD = 0.01  # a threshold of 0 would keep everything: not an operating point


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a`` [N, 4] and ``b`` [M, 4] (any consistent corner order) -> [N, M]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    a = a.astype(np.float64)[:, None, :]
    b = b.astype(np.float64)[None, :, :]
    inter_h = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_w = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_h * inter_w
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _pixels(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(boxes, np.float64).reshape(-1, 4) * np.array([height, width, height, width])


def _outcomes(
    truth: ImageTruth, dets: ImageDetections, iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, outcome)`` of one image's detections: 1 TP, 0 FP, -1 ignored (a crowd box)."""
    order = np.argsort(-np.asarray(dets.scores), kind="stable")
    boxes = _pixels(dets.boxes, truth.width, truth.height)[order]
    classes = np.asarray(dets.classes)[order]
    gt = _pixels(truth.boxes, truth.width, truth.height)
    crowd = np.asarray(truth.is_crowd, bool) if len(truth.is_crowd) else np.zeros(len(gt), bool)
    overlaps = pairwise_iou(boxes, gt)
    taken = np.zeros(len(gt), bool)
    outcome = np.zeros(len(order), np.int8)
    for i in range(len(order)):
        same = (np.asarray(truth.classes) == classes[i]) & (overlaps[i] >= iou)
        free = same & ~taken & ~crowd
        if free.any():
            j = int(np.argmax(np.where(free, overlaps[i], -1.0)))
            taken[j] = True
            outcome[i] = 1
        elif (same & crowd).any():
            outcome[i] = -1
    return np.asarray(dets.scores)[order], outcome


def f1_curve(images: list[ImageTruth], detections: list[ImageDetections], iou: float = IOU) -> dict:
    """Precision, recall and F1 at each of :data:`THRESHOLDS`, and the best-F1 threshold.

    Returns ``{"iou", "thresholds", "precision", "recall", "f1", "best": {"threshold",
    "precision", "recall", "f1"}}`` (lists of floats; the best is the highest threshold
    among the maxima of F1, at least :data:`MIN_THRESHOLD`).
    """
    by_id = {d.image_id: d for d in detections}
    scores, outcomes = [], []
    positives = 0
    for truth in images:
        crowd = np.asarray(truth.is_crowd, bool) if len(truth.is_crowd) else None
        positives += int(len(truth.classes) - (crowd.sum() if crowd is not None else 0))
        dets = by_id.get(truth.image_id)
        if dets is not None and len(dets.scores):
            s, o = _outcomes(truth, dets, iou)
            scores.append(s)
            outcomes.append(o)
    scores = np.concatenate(scores) if scores else np.zeros(0)
    outcomes = np.concatenate(outcomes) if outcomes else np.zeros(0, np.int8)
    precision, recall, f1 = [], [], []
    for t in THRESHOLDS:
        kept = outcomes[scores >= t]
        tp, fp = int(np.sum(kept == 1)), int(np.sum(kept == 0))
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / positives if positives else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    f1_arr = np.asarray(f1)
    usable = THRESHOLDS >= MIN_THRESHOLD
    best_f1 = f1_arr[usable].max()
    best = int(np.flatnonzero(usable & (f1_arr >= best_f1 - 1e-12))[-1])
    return {
        "iou": iou,
        "thresholds": [float(t) for t in THRESHOLDS],
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "best": {
            "threshold": float(THRESHOLDS[best]),
            "precision": precision[best],
            "recall": recall[best],
            "f1": f1[best],
        },
    }


def confusion_matrix(
    images: list[ImageTruth],
    detections: list[ImageDetections],
    num_classes: int,
    threshold: float,
    iou: float = IOU,
) -> np.ndarray:
    """The int matrix [K+1, K+1] at ``threshold`` (see the module docstring; crowd boxes skipped)."""
    matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    by_id = {d.image_id: d for d in detections}
    for truth in images:
        crowd = np.asarray(truth.is_crowd, bool) if len(truth.is_crowd) else None
        keep = ~crowd if crowd is not None else np.ones(len(truth.classes), bool)
        all_gt = _pixels(truth.boxes, truth.width, truth.height)
        gt, crowd_gt = all_gt[keep], all_gt[~keep]
        gt_classes = np.asarray(truth.classes)[keep]
        dets = by_id.get(truth.image_id)
        taken = np.zeros(len(gt), bool)
        if dets is not None and len(dets.scores):
            scores = np.asarray(dets.scores)
            order = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= threshold]
            boxes = _pixels(dets.boxes, truth.width, truth.height)
            overlaps = pairwise_iou(boxes[order], gt)
            on_crowd = (pairwise_iou(boxes[order], crowd_gt) >= iou).any(axis=1)
            for row, i in enumerate(order):
                free = ~taken & (overlaps[row] >= iou)
                pred = int(dets.classes[i])
                if free.any():
                    j = int(np.argmax(np.where(free, overlaps[row], -1.0)))
                    taken[j] = True
                    matrix[int(gt_classes[j]), pred] += 1
                elif not on_crowd[row]:
                    matrix[0, pred] += 1
        for j in np.flatnonzero(~taken):
            matrix[int(gt_classes[j]), 0] += 1
    return matrix


def image_outcomes(
    truth: ImageTruth, dets: ImageDetections | None, threshold: float, iou: float = IOU
) -> tuple[np.ndarray, np.ndarray]:
    """Per box of one image at ``threshold``: ``(found [N] bool, correct [D] bool)``.

    ``found`` marks the ground-truth boxes a detection of their class matched (crowd boxes
    count as found: nothing is expected of them); ``correct`` marks each detection (in the
    given order) that matched or sat on a crowd box. Detections under ``threshold`` are
    neither correct nor wrong: their entry is True.
    """
    n = len(truth.classes)
    crowd = np.asarray(truth.is_crowd, bool) if len(truth.is_crowd) else np.zeros(n, bool)
    found = crowd.copy()
    if dets is None or not len(dets.scores):
        return found, np.zeros(0, bool)
    scores = np.asarray(dets.scores)
    correct = scores < threshold
    gt = _pixels(truth.boxes, truth.width, truth.height)
    boxes = _pixels(dets.boxes, truth.width, truth.height)
    overlaps = pairwise_iou(boxes, gt)
    taken = np.zeros(n, bool)
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] < threshold:
            continue
        same = (np.asarray(truth.classes) == dets.classes[i]) & (overlaps[i] >= iou)
        free = same & ~taken & ~crowd
        if free.any():
            j = int(np.argmax(np.where(free, overlaps[i], -1.0)))
            taken[j] = found[j] = correct[i] = True
        elif (same & crowd).any():
            correct[i] = True
    return found, correct
