"""Bootstrap intervals of AP: all weights 1 is COCO's AP; the paired difference is honest."""

from __future__ import annotations

import numpy as np
import pytest

from components.metrics import bootstrap, coco_eval
from components.metrics.coco_eval import ImageDetections, ImageTruth

CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]


def _scene(seed: int, n_images: int = 30, noise: float = 0.03):
    """Random images with 1-3 boxes and detections near them (plus a few false ones)."""
    rng = np.random.default_rng(seed)
    images, dets = [], []
    for image_id in range(1, n_images + 1):
        n = int(rng.integers(1, 4))
        yx = rng.uniform(0.0, 0.6, (n, 2))
        hw = rng.uniform(0.1, 0.4, (n, 2))
        boxes = np.concatenate([yx, yx + hw], axis=1)
        classes = rng.integers(1, 3, n)
        crowd = np.zeros(n, np.int64)
        images.append(
            ImageTruth(image_id, str(image_id), 200, 160, boxes, classes, crowd, np.zeros(n))
        )
        found = boxes + rng.normal(0, noise, boxes.shape)
        false = rng.uniform(0, 0.5, (2, 4))
        false[:, 2:] = false[:, :2] + 0.2
        det_boxes = np.concatenate([found, false])
        det_classes = np.concatenate([classes, rng.integers(1, 3, 2)])
        scores = np.concatenate([rng.uniform(0.4, 1.0, n), rng.uniform(0.0, 0.6, 2)])
        dets.append(ImageDetections(image_id, det_boxes, scores, det_classes))
    return images, dets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_weights_one_is_the_coco_ap(seed):
    images, dets = _scene(seed)
    reference = coco_eval.evaluate(images, dets, CATEGORIES, "pycocotools")["metrics"]["AP"]
    m = bootstrap.matches(images, dets, CATEGORIES)
    assert bootstrap.weighted_ap(m, np.ones((1, len(images))))[0] == pytest.approx(
        reference, abs=1e-9
    )


def test_weights_are_duplicated_images():
    images, dets = _scene(3, n_images=6)
    twice = [2, 1, 1, 3, 1, 1]
    dup_images, dup_dets = [], []
    for (img, det), k in zip(zip(images, dets, strict=True), twice, strict=True):
        for _ in range(k):
            new_id = len(dup_images) + 1
            dup_images.append(
                ImageTruth(
                    new_id,
                    img.source_id,
                    img.width,
                    img.height,
                    img.boxes,
                    img.classes,
                    img.is_crowd,
                    img.area,
                )
            )
            dup_dets.append(ImageDetections(new_id, det.boxes, det.scores, det.classes))
    reference = coco_eval.evaluate(dup_images, dup_dets, CATEGORIES, "pycocotools")["metrics"]["AP"]
    m = bootstrap.matches(images, dets, CATEGORIES)
    assert bootstrap.weighted_ap(m, np.asarray([twice]))[0] == pytest.approx(reference, abs=2e-3)


def test_a_model_against_itself_differs_by_exactly_zero_and_a_worse_one_is_seen():
    images, dets = _scene(4, n_images=40, noise=0.01)
    _, noisy = _scene(4, n_images=40, noise=0.06)  # the same scene, sloppier boxes
    good = bootstrap.matches(images, dets, CATEGORIES)
    same = bootstrap.intervals(good, good, samples=200)
    assert same["difference"] == [0.0, 0.0]
    lo, hi = same["AP"]
    assert lo < same["AP_estimate"] < hi
    worse = bootstrap.intervals(bootstrap.matches(images, noisy, CATEGORIES), good, samples=200)
    assert worse["difference"][1] < 0  # worse with confidence
    width = lambda band: band[1] - band[0]  # noqa: E731
    assert width(worse["difference"]) < width(worse["AP"]) + width(worse["baseline_AP"])
