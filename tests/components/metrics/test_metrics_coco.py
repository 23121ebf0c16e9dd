"""COCO metrics: known answers, equality with a direct pycocotools run, faster-coco-eval parity."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from components.metrics import coco_eval, evaluators
from components.metrics.coco_eval import ImageDetections, ImageTruth

CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
SIZE = 400  # every image is SIZE x SIZE pixels


def _box(x: float, y: float, side: float) -> list[float]:
    """A square pixel box as normalised [ymin, xmin, ymax, xmax]."""
    return [y / SIZE, x / SIZE, (y + side) / SIZE, (x + side) / SIZE]


def _known_set():
    """Six images, one box each: sides 20 (small), 60 (medium), 150 (large), two classes."""
    images = []
    for i, (side, cls) in enumerate([(20, 1), (60, 1), (150, 1), (20, 2), (60, 2), (150, 2)]):
        images.append(
            ImageTruth(
                image_id=i + 1,
                source_id=f"img{i + 1}",
                width=SIZE,
                height=SIZE,
                boxes=np.array([_box(100, 100, side)]),
                classes=np.array([cls]),
                is_crowd=np.array([0]),
                area=np.array([0.0]),
            )
        )
    return images


def _detections(images, shift: float = 0.0):
    """One detection per ground-truth box, shifted right by ``shift`` x its side."""
    out = []
    for img in images:
        boxes = img.boxes.copy()
        side = boxes[:, 3] - boxes[:, 1]
        boxes[:, 1] += shift * side
        boxes[:, 3] += shift * side
        out.append(ImageDetections(img.image_id, boxes, np.full(len(boxes), 0.9), img.classes))
    return out


def _pycocotools_stats(gt: dict, dets: list[dict]) -> np.ndarray:
    """The 12 numbers of a plain pycocotools run (COCO, loadRes, COCOeval.summarize)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:12])


@pytest.mark.parametrize("evaluator", evaluators.EVALUATORS)
def test_perfect_detections_give_one(evaluator):
    images = _known_set()
    result = coco_eval.evaluate(images, _detections(images), CATEGORIES, evaluator)
    for name in coco_eval.METRIC_NAMES:
        assert result["metrics"][name] == pytest.approx(1.0, abs=1e-12), name
    for row in result["per_class"].values():
        assert row["AP"] == pytest.approx(1.0, abs=1e-12)
    assert set(result["per_class"]) == {"cat", "dog"}
    assert result["pr_curves"]["classes"]["cat"]["iou50"] == [1.0] * 101


@pytest.mark.parametrize("evaluator", evaluators.EVALUATORS)
def test_shifted_boxes_lower_ap_as_expected(evaluator):
    # A square shifted by d of its side has IoU (1 - d) / (1 + d); d = 0.38 / 1.62 gives 0.62:
    # a match at IoU thresholds 0.50, 0.55, 0.60 only, so AP = 3/10, AP50 = 1, AP75 = 0.
    images = _known_set()
    metrics = coco_eval.evaluate(images, _detections(images, 0.38 / 1.62), CATEGORIES, evaluator)[
        "metrics"
    ]
    assert metrics["AP"] == pytest.approx(0.3, abs=1e-12)
    assert metrics["AP50"] == 1.0
    assert metrics["AP75"] == 0.0
    assert metrics["AR100"] == pytest.approx(0.3, abs=1e-12)
    # Shifted by a whole side: no overlap, nothing is found.
    far = coco_eval.evaluate(images, _detections(images, 1.0), CATEGORIES, evaluator)["metrics"]
    assert far["AP"] == 0.0 and far["AR100"] == 0.0


def _random_set(seed: int, n_images: int = 40, crowd: bool = True, empty: bool = True):
    """Random ground truth and noisy detections with crowd boxes and images without boxes."""
    rng = np.random.default_rng(seed)
    images, dets = [], []
    for image_id in range(1, n_images + 1):
        n_gt = 0 if (empty and image_id % 7 == 0) else int(rng.integers(1, 6))
        xy = rng.uniform(0, 0.7, (n_gt, 2))
        wh = rng.uniform(0.02, 0.3, (n_gt, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)  # ymin, xmin, ymax, xmax
        is_crowd = (rng.uniform(size=n_gt) < 0.15).astype(int) if crowd else np.zeros(n_gt, int)
        classes = rng.integers(1, 3, n_gt)
        images.append(
            ImageTruth(image_id, f"r{image_id}", 320, 240, boxes, classes, is_crowd, np.zeros(n_gt))
        )
        if image_id % 5 == 0:  # an image without any detection
            dets.append(ImageDetections(image_id, np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)))
            continue
        noisy = boxes + rng.normal(0, 0.03, boxes.shape)
        extra_xy = rng.uniform(0, 0.8, (3, 2))
        extra = np.concatenate([extra_xy, extra_xy + 0.1], axis=1)
        all_boxes = np.concatenate([noisy, extra])
        all_classes = np.concatenate([classes, rng.integers(1, 3, 3)])
        scores = rng.uniform(0.05, 1.0, len(all_boxes))
        dets.append(ImageDetections(image_id, all_boxes, scores, all_classes))
    return images, dets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_direct_pycocotools(seed):
    images, dets = _random_set(seed)
    gt = coco_eval.ground_truth_dict(images, CATEGORIES)
    expected = _pycocotools_stats(gt, coco_eval.detections_list(images, dets))
    assert not np.allclose(expected, expected[0])  # a set with informative, different numbers
    for evaluator in evaluators.EVALUATORS:
        metrics = coco_eval.evaluate(images, dets, CATEGORIES, evaluator)["metrics"]
        got = np.array([metrics[n] for n in coco_eval.METRIC_NAMES])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("seed", "crowd", "empty"),
    [(3, True, True), (4, True, False), (5, False, True), (6, True, True)],
)
def test_faster_coco_eval_matches_pycocotools(seed, crowd, empty):
    images, dets = _random_set(seed, crowd=crowd, empty=empty)
    gt = coco_eval.ground_truth_dict(images, CATEGORIES)
    assert any(a["iscrowd"] for a in gt["annotations"]) == crowd
    dt = coco_eval.detections_list(images, dets)
    ref = evaluators.accumulate(gt, dt, evaluators.PYCOCOTOOLS)
    fast = evaluators.accumulate(gt, dt, evaluators.FASTER)
    np.testing.assert_allclose(fast.precision, ref.precision, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.recall, ref.recall, rtol=0, atol=1e-9)
    a, b = coco_eval.summary(fast), coco_eval.summary(ref)
    assert max(abs(a[n] - b[n]) for n in coco_eval.METRIC_NAMES) <= 1e-9


def test_no_detections_and_no_ground_truth():
    images, _ = _random_set(7, n_images=6)
    none = [
        ImageDetections(i.image_id, np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)) for i in images
    ]
    for evaluator in evaluators.EVALUATORS:
        metrics = coco_eval.evaluate(images, none, CATEGORIES, evaluator)["metrics"]
        assert metrics["AP"] == 0.0 and metrics["AR100"] == 0.0
    empty = [
        ImageTruth(1, "e", 64, 64, np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), np.zeros(0))
    ]
    for evaluator in evaluators.EVALUATORS:
        metrics = coco_eval.evaluate(empty, none[:0], CATEGORIES, evaluator)["metrics"]
        assert set(metrics.values()) == {-1.0}  # COCO's "no ground truth" marker


def test_crowd_box_matches_are_ignored():
    # One real box and one crowd region; a detection inside the crowd region is neither a
    # true nor a false positive, so AP stays 1.
    truth = ImageTruth(
        1, "c", SIZE, SIZE, np.array([_box(10, 10, 60), _box(200, 200, 150)]),
        np.array([1, 1]), np.array([0, 1]), np.zeros(2),
    )  # fmt: skip
    det = ImageDetections(
        1, np.array([_box(10, 10, 60), _box(220, 220, 50)]), np.array([0.9, 0.95]), np.array([1, 1])
    )
    for evaluator in evaluators.EVALUATORS:
        metrics = coco_eval.evaluate([truth], [det], CATEGORIES[:1], evaluator)["metrics"]
        assert metrics["AP"] == pytest.approx(1.0, abs=1e-12)
        # Not crowd: the same box is a ground truth the detection misses (IoU 1/9): AP drops.
        truth.is_crowd = np.array([0, 0])
        plain = coco_eval.evaluate([truth], [det], CATEGORIES[:1], evaluator)["metrics"]
        truth.is_crowd = np.array([0, 1])
        assert plain["AP"] < 0.6
