"""Bootstrap confidence intervals of COCO AP over the test images, and of a paired difference.

The test split is a sample of the images a model will see; its AP is an estimate. Resampling
the images with replacement (``samples`` times) and recomputing AP gives its spread; resampling
the *same* images for two models gives the spread of their difference (a paired bootstrap),
which is far narrower than the two intervals suggest, because both models see the same easy and
hard images.

The matching is pycocotools' ``COCOeval.evaluate()`` (area "all", 100 detections per image),
done once; each resample then re-accumulates AP with the images weighted by how often they were
drawn, exactly as ``COCOeval.accumulate()`` would on the duplicated image list (101-point
interpolated precision, averaged over the IoU thresholds 0.50:0.95 and the classes that have
ground truth). With every weight 1 it is the COCO AP (a test checks it against pycocotools).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io

import numpy as np

from components.metrics import coco_eval, evaluators

SAMPLES = 1000
CONFIDENCE = 0.95
_CHUNK = 50  # resamples accumulated at once (bounds the memory of large test splits)


@dataclasses.dataclass(frozen=True)
class _ClassEval:
    """One class's detections over all images, in COCO's order (score, descending)."""

    image_index: np.ndarray  # [D] the image each detection belongs to (0..N-1)
    tp: np.ndarray  # [T, D] bool: matched and not ignored
    fp: np.ndarray  # [T, D] bool: unmatched and not ignored
    positives: np.ndarray  # [N] ground-truth boxes that count, per image


@dataclasses.dataclass(frozen=True)
class Matches:
    """What :func:`matches` extracts from one COCO evaluation of a model."""

    classes: list[_ClassEval]
    num_images: int
    recall_thresholds: np.ndarray


def matches(
    images: list[coco_eval.ImageTruth],
    detections: list[coco_eval.ImageDetections],
    categories: list[dict],
) -> Matches:
    """Run pycocotools' per-image matching once; keep what AP needs per class and image."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = coco_eval.ground_truth_dict(images, categories)
    results = coco_eval.detections_list(images, detections)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = evaluators._index(COCO, gt)
        coco_dt = evaluators._index(COCO, evaluators._results_dataset(gt, results))
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
    params = ev.params
    image_ids = list(params.imgIds)
    position = {image_id: i for i, image_id in enumerate(image_ids)}
    num_areas, num_images = len(params.areaRng), len(image_ids)
    max_det = params.maxDets[-1]
    num_t = len(params.iouThrs)
    classes = []
    for k, _ in enumerate(params.catIds):
        scores, index, tps, fps = [], [], [], []
        positives = np.zeros(num_images)
        for i in range(num_images):
            entry = ev.evalImgs[k * num_areas * num_images + i]  # area 0 is "all"
            if entry is None:
                continue
            d = len(entry["dtScores"][:max_det])
            matched = np.asarray(entry["dtMatches"])[:, :d].reshape(num_t, d)
            ignored = np.asarray(entry["dtIgnore"])[:, :d].reshape(num_t, d).astype(bool)
            scores.append(np.asarray(entry["dtScores"][:max_det], dtype=np.float64))
            index.append(np.full(d, position[entry["image_id"]]))
            tps.append((matched != 0) & ~ignored)
            fps.append((matched == 0) & ~ignored)
            positives[position[entry["image_id"]]] = np.count_nonzero(
                np.asarray(entry["gtIgnore"]) == 0
            )
        if not scores:
            classes.append(
                _ClassEval(
                    np.zeros(0, int),
                    np.zeros((num_t, 0), bool),
                    np.zeros((num_t, 0), bool),
                    positives,
                )
            )
            continue
        all_scores = np.concatenate(scores)
        order = np.argsort(-all_scores, kind="mergesort")  # pycocotools' order
        classes.append(
            _ClassEval(
                np.concatenate(index)[order],
                np.concatenate(tps, axis=1)[:, order],
                np.concatenate(fps, axis=1)[:, order],
                positives,
            )
        )
    return Matches(classes, num_images, np.asarray(params.recThrs, dtype=np.float64))


def weighted_ap(m: Matches, weights: np.ndarray) -> np.ndarray:
    """COCO AP for each row of image ``weights`` [B, N] (how often each image was drawn)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    total = np.zeros(len(weights))
    count = np.zeros(len(weights))
    for c in m.classes:
        npig = weights @ c.positives  # [B]
        valid = npig > 0
        if not valid.any():
            continue
        w = weights[:, c.image_index]  # [B, D]
        for t in range(c.tp.shape[0]):
            tp = np.cumsum(w * c.tp[t], axis=1)
            fp = np.cumsum(w * c.fp[t], axis=1)
            ap = np.zeros(len(weights))
            for b in np.flatnonzero(valid):
                ap[b] = _interpolated_ap(tp[b], fp[b], npig[b], m.recall_thresholds)
            total += np.where(valid, ap, 0.0)
            count += valid
    return np.where(count > 0, total / np.maximum(count, 1), -1.0)


def _interpolated_ap(tp: np.ndarray, fp: np.ndarray, npig: float, thresholds: np.ndarray) -> float:
    if len(tp) == 0:
        return 0.0
    recall = tp / npig
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope, as COCO
    where = np.searchsorted(recall, thresholds, side="left")
    sampled = np.where(
        where < len(precision), precision[np.minimum(where, len(precision) - 1)], 0.0
    )
    return float(sampled.mean())


def resample_weights(num_images: int, samples: int, seed: int) -> np.ndarray:
    """[samples, N] counts of each image in a resample with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, num_images, size=(samples, num_images))
    return np.stack([np.bincount(row, minlength=num_images) for row in draws]).astype(np.float64)


def intervals(
    candidate: Matches,
    baseline: Matches | None = None,
    samples: int = SAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict:
    """``{"AP": [lo, hi]}`` of the candidate and, with a baseline scored on the same images,
    ``"baseline_AP"`` and ``"difference"`` (candidate - baseline) intervals, each with its
    point estimate (all weights 1) as ``"..._estimate"``; ``samples`` and ``confidence`` too."""
    weights = resample_weights(candidate.num_images, samples, seed)
    ones = np.ones((1, candidate.num_images))
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2

    def spread(m: Matches) -> tuple[np.ndarray, float]:
        values = np.concatenate(
            [weighted_ap(m, weights[i : i + _CHUNK]) for i in range(0, samples, _CHUNK)]
        )
        return values, float(weighted_ap(m, ones)[0])

    def band(values: np.ndarray) -> list[float]:
        return [
            round(float(np.quantile(values, lo_q)), 6),
            round(float(np.quantile(values, hi_q)), 6),
        ]

    cand, cand_ap = spread(candidate)
    out = {"samples": samples, "confidence": confidence, "AP": band(cand), "AP_estimate": cand_ap}
    if baseline is not None:
        if baseline.num_images != candidate.num_images:
            raise ValueError("a paired bootstrap needs both models scored on the same images")
        base, base_ap = spread(baseline)
        out.update(
            {
                "baseline_AP": band(base),
                "baseline_AP_estimate": base_ap,
                "difference": band(cand - base),
                "difference_estimate": cand_ap - base_ap,
            }
        )
    return out
