"""The two COCO box evaluators behind one call: faster-coco-eval (default) and pycocotools.

Both take the same ground-truth dict (COCO instances format) and detection list (COCO results
format) and return the accumulated arrays of COCOeval: ``precision`` [T, R, K, A, M] and
``recall`` [T, K, A, M] (T IoU thresholds, R recall thresholds, K categories, A area ranges,
M max-detection settings; -1 where a cell has no ground truth). pycocotools is the reference;
faster-coco-eval gives the same numbers (checked by a test to 1e-9) several times faster.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io

import numpy as np

from components.errors import UserError

FASTER = "faster-coco-eval"
PYCOCOTOOLS = "pycocotools"
EVALUATORS = (FASTER, PYCOCOTOOLS)
DEFAULT_EVALUATOR = FASTER


@dataclasses.dataclass(frozen=True)
class Accumulated:
    """What COCOeval.accumulate() produced, plus the parameters needed to read it.

    ``precision`` is [T, R, K, A, M], ``recall`` [T, K, A, M]; ``iou_thresholds`` (T),
    ``recall_thresholds`` (R), ``cat_ids`` (K, sorted), ``area_labels`` (A, "all" first) and
    ``max_dets`` (M, ascending) name the axes.
    """

    precision: np.ndarray
    recall: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    cat_ids: list[int]
    area_labels: list[str]
    max_dets: list[int]


def _coco_classes(evaluator: str):
    """Return (COCO, COCOeval) classes of ``evaluator``; UserError for an unknown name."""
    if evaluator == FASTER:
        from faster_coco_eval import COCO, COCOeval_faster

        return COCO, COCOeval_faster
    if evaluator == PYCOCOTOOLS:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    raise UserError(f"unknown evaluator {evaluator!r} (choose from {', '.join(EVALUATORS)})")


def _index(coco_cls, dataset: dict):
    """Build a COCO object of class ``coco_cls`` from an in-memory ``dataset`` dict."""
    coco = coco_cls()
    coco.dataset = dataset
    coco.createIndex()
    return coco


def _results_dataset(gt: dict, detections: list[dict]) -> dict:
    """The COCO dataset dict that ``COCO.loadRes`` would build for bbox ``detections``.

    Done here (rather than with loadRes) so both libraries see identical input and an empty
    detection list works (pycocotools' loadRes fails on one).
    """
    annotations = []
    for index, det in enumerate(detections, start=1):
        x, y, w, h = (float(v) for v in det["bbox"])
        annotations.append(
            {
                "id": index,
                "image_id": int(det["image_id"]),
                "category_id": int(det["category_id"]),
                "bbox": [x, y, w, h],
                "score": float(det["score"]),
                "area": w * h,
                "iscrowd": 0,
                "segmentation": [[x, y, x, y + h, x + w, y + h, x + w, y]],
            }
        )
    return {
        "images": list(gt["images"]),
        "categories": copy.deepcopy(gt["categories"]),
        "annotations": annotations,
    }


def accumulate(gt: dict, detections: list[dict], evaluator: str = DEFAULT_EVALUATOR) -> Accumulated:
    """Run COCO bbox evaluation of ``detections`` against ``gt`` with ``evaluator``.

    ``gt`` is a COCO instances dict (images, annotations, categories); ``detections`` a list of
    ``{"image_id", "category_id", "bbox": [x, y, w, h] pixels, "score"}``. The libraries' own
    progress printing is silenced. Returns the accumulated arrays (see ``Accumulated``).
    """
    coco_cls, eval_cls = _coco_classes(evaluator)
    gt_dataset = {
        "images": list(gt["images"]),
        "categories": copy.deepcopy(gt["categories"]),
        "annotations": [dict(ann) for ann in gt["annotations"]],
    }
    kwargs = {"print_function": lambda *a, **k: None} if evaluator == FASTER else {}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = _index(coco_cls, gt_dataset)
        coco_dt = _index(coco_cls, _results_dataset(gt, detections))
        coco_eval = eval_cls(coco_gt, coco_dt, iouType="bbox", **kwargs)
        coco_eval.evaluate()
        coco_eval.accumulate()
    params = coco_eval.params
    return Accumulated(
        precision=np.asarray(coco_eval.eval["precision"], dtype=np.float64),
        recall=np.asarray(coco_eval.eval["recall"], dtype=np.float64),
        iou_thresholds=np.asarray(params.iouThrs, dtype=np.float64),
        recall_thresholds=np.asarray(params.recThrs, dtype=np.float64),
        cat_ids=[int(c) for c in params.catIds],
        area_labels=list(params.areaRngLbl),
        max_dets=[int(m) for m in params.maxDets],
    )
