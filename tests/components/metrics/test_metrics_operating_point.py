"""Precision / recall / F1 against confidence, the best-F1 threshold and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from components.metrics.coco_eval import ImageDetections, ImageTruth
from components.metrics.operating_point import confusion_matrix, f1_curve

CAT, DOG = 1, 2
A, B, C = [0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.1, 0.1, 0.4, 0.4]
EMPTY = [0.6, 0.0, 0.9, 0.3]


def _truth(image_id, boxes, classes, crowd=None):
    n = len(classes)
    return ImageTruth(
        image_id,
        str(image_id),
        100,
        80,
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(classes, np.int64),
        np.asarray(crowd if crowd is not None else [0] * n, np.int64),
        np.zeros(n, np.float32),
    )


def _dets(image_id, rows):
    return ImageDetections(
        image_id,
        np.asarray([r[0] for r in rows], np.float32).reshape(-1, 4),
        np.asarray([r[1] for r in rows], np.float32),
        np.asarray([r[2] for r in rows], np.int64),
    )


IMAGES = [_truth(1, [A, B], [CAT, DOG]), _truth(2, [C], [CAT])]
# Image 1: the cat found (0.9), the dog boxed but called a cat (0.8). Image 2: a dog where
# nothing is (0.7), the cat missed.
DETECTIONS = [_dets(1, [(A, 0.9, CAT), (B, 0.8, CAT)]), _dets(2, [(EMPTY, 0.7, DOG)])]


def test_counts_at_every_threshold_and_the_best_f1():
    curve = f1_curve(IMAGES, DETECTIONS)
    at = dict(
        zip(
            curve["thresholds"],
            zip(curve["precision"], curve["recall"], curve["f1"], strict=True),
            strict=True,
        )
    )
    assert at[0.85] == pytest.approx((1.0, 1 / 3, 0.5))
    assert at[0.75] == pytest.approx((0.5, 1 / 3, 0.4))
    assert at[0.5] == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert at[0.95] == pytest.approx((1.0, 0.0, 0.0))  # nothing kept: precision 1 by convention
    # The highest threshold keeping the 0.9 detection (a float32 just below 0.9) is 0.89.
    assert curve["best"] == pytest.approx(
        {"threshold": 0.89, "precision": 1.0, "recall": 1 / 3, "f1": 0.5}
    )


def test_a_detection_on_a_crowd_box_is_neither_hit_nor_false_alarm():
    images = [_truth(1, [A, B], [CAT, CAT], crowd=[0, 1])]
    dets = [_dets(1, [(A, 0.9, CAT), (B, 0.8, CAT)])]
    curve = f1_curve(images, dets)
    i = curve["thresholds"].index(0.5)
    assert (curve["precision"][i], curve["recall"][i]) == (1.0, 1.0)
    assert confusion_matrix(images, dets, 2, 0.5).sum() == 1  # the crowd box is not counted


def test_the_confusion_matrix_puts_a_wrong_class_off_the_diagonal():
    matrix = confusion_matrix(IMAGES, DETECTIONS, num_classes=2, threshold=0.5)
    expected = np.zeros((3, 3), np.int64)
    expected[CAT, CAT] = 1  # found
    expected[DOG, CAT] = 1  # a dog called a cat
    expected[0, DOG] = 1  # a dog on background
    expected[CAT, 0] = 1  # a cat missed
    np.testing.assert_array_equal(matrix, expected)
    above = confusion_matrix(IMAGES, DETECTIONS, num_classes=2, threshold=0.85)
    assert above[CAT, CAT] == 1 and above[DOG, 0] == 1 and above[CAT, 0] == 1 and above.sum() == 3


def test_image_outcomes_mark_found_boxes_and_correct_detections():
    from components.metrics.operating_point import image_outcomes

    found, correct = image_outcomes(IMAGES[0], DETECTIONS[0], threshold=0.5)
    assert found.tolist() == [True, False]  # the cat found, the dog not (called a cat)
    assert correct.tolist() == [True, False]
    found, correct = image_outcomes(IMAGES[1], DETECTIONS[1], threshold=0.75)
    assert found.tolist() == [False] and correct.tolist() == [True]  # 0.7 is under 0.75
