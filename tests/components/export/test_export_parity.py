"""Matching detections of two runtimes: equal, moved, rescored, cut off, and the AP rule."""

from __future__ import annotations

import numpy as np

from components.export import parity
from components.metrics.coco_eval import ImageDetections

FP32 = parity.TOLERANCES["fp32"]


def _dets(boxes, scores, classes):
    return ImageDetections(1, np.array(boxes, float), np.array(scores, float), np.array(classes))


REF = _dets([[0.1, 0.1, 0.5, 0.5], [0.2, 0.6, 0.9, 0.9]], [0.9, 0.6], [1, 2])


def test_equal_detections_all_match():
    result = parity.compare_image(REF, REF, 0.05, 100, FP32)
    assert result["compared"] == 2 and result["matched"] == 2
    assert result["max_score_diff"] == 0.0


def test_a_moved_box_a_changed_score_or_class_does_not_match():
    moved = _dets([[0.1, 0.1, 0.5, 0.5], [0.2, 0.5, 0.9, 0.9]], [0.9, 0.6], [1, 2])
    rescored = _dets(REF.boxes, [0.9, 0.65], [1, 2])
    reclassed = _dets(REF.boxes, [0.9, 0.6], [1, 1])
    for other in (moved, rescored, reclassed):
        assert parity.compare_image(REF, other, 0.05, 100, FP32)["matched"] == 1


def test_a_missing_or_extra_detection_counts_in_either_direction():
    fewer = _dets(REF.boxes[:1], [0.9], [1])
    assert parity.compare_image(REF, fewer, 0.05, 100, FP32)["matched"] == 1
    assert parity.compare_image(fewer, REF, 0.05, 100, FP32)["matched"] == 1


def test_detections_at_the_cut_off_are_not_compared():
    # both lists are full (max 2 detections): the lowest kept score is the cut-off
    other = _dets([[0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 0.1, 0.1]], [0.9, 0.6004], [1, 2])
    result = parity.compare_image(REF, other, 0.05, 2, FP32)
    assert result["compared"] == 1 and result["matched"] == 1


def test_summary_passes_and_fails_on_the_tolerances():
    good = parity.compare_image(REF, REF, 0.05, 100, FP32)
    assert parity.summarize([good], FP32, (0.3, 0.3004))["passed"]
    off_ap = parity.summarize([good], FP32, (0.3, 0.31))
    assert not off_ap["passed"] and "AP" in off_ap["failed"][0]
    bad = parity.compare_image(REF, _dets(REF.boxes, [0.5, 0.2], [1, 2]), 0.05, 100, FP32)
    assert not parity.summarize([bad], FP32, None)["passed"]
    empty = parity.compare_image(_dets(np.zeros((0, 4)), [], []), REF, 0.95, 100, FP32)
    assert parity.summarize([empty], FP32, None)["failed"][0].startswith("no detections")
