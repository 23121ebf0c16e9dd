"""Post-processing on hand-made logits: decoding, clipping, per-class NMS, padding, soft-NMS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from components.detector import anchors as anchors_lib
from components.detector.config_load import get_preset
from components.detector.postprocess import postprocess

CFG = get_preset("tiny").replace(num_classes=2)
ANCHORS = anchors_lib.generate_anchors(CFG)
S = CFG.image_size
BEST = (7 * 16 + 7) * 9  # level 3, centre (60, 60), 32 x 32
OVERLAP = BEST + 3  # same centre, scale 1: 32 * 2^(1/3); IoU with BEST = 2^(-2/3) = 0.63
CORNER = (1 * 16 + 1) * 9  # centre (12, 12), 32 x 32: sticks out of the image at the top left


def _logits():
    logits = np.full((1, len(ANCHORS), 2), -10.0, np.float32)
    logits[0, BEST, 0] = 3.0
    logits[0, OVERLAP, 0] = 2.0  # same class, overlaps BEST: suppressed by hard NMS
    logits[0, OVERLAP, 1] = 1.0  # other class: kept
    logits[0, CORNER, 0] = 0.0
    return logits


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_hard_nms_keeps_the_best_box_per_class_and_clips():
    deltas = np.zeros((1, len(ANCHORS), 4), np.float32)
    out = postprocess(_logits(), deltas, ANCHORS, CFG)
    n = int(out["num_detections"][0])
    assert n == 3
    assert out["detection_boxes"].shape == (1, 100, 4)
    assert out["detection_classes"].dtype == tf.int32 and out["num_detections"].dtype == tf.int32
    np.testing.assert_allclose(
        out["detection_scores"][0, :n], [_sigmoid(3), _sigmoid(1), _sigmoid(0)], rtol=1e-5
    )
    np.testing.assert_array_equal(out["detection_classes"][0, :n], [1, 2, 1])
    expected = np.stack([ANCHORS[BEST], ANCHORS[OVERLAP], [0, 0, 28, 28]]) / S
    np.testing.assert_allclose(out["detection_boxes"][0, :n], expected, atol=1e-5)
    assert np.all(out["detection_scores"][0, n:].numpy() == 0)
    assert np.all(out["detection_classes"][0, n:].numpy() == 0)


def test_box_deltas_move_the_boxes():
    deltas = np.zeros((1, len(ANCHORS), 4), np.float32)
    deltas[0, BEST] = [0.25, 0.0, math.log(0.5), 0.0]  # down by 8 px, half the height
    out = postprocess(_logits(), deltas, ANCHORS, CFG)
    np.testing.assert_allclose(
        out["detection_boxes"][0, 0] * S, [60.0, 44.0, 76.0, 76.0], atol=1e-3
    )


def test_soft_nms_decays_instead_of_removing():
    cfg = CFG.with_overrides({"postprocess.nms": "soft", "postprocess.soft_nms_sigma": 0.5})
    out = postprocess(_logits(), np.zeros((1, len(ANCHORS), 4), np.float32), ANCHORS, cfg)
    n = int(out["num_detections"][0])
    scores = out["detection_scores"][0, :n].numpy()
    iou = 2 ** (-2 / 3)
    decayed = _sigmoid(2) * math.exp(-0.5 * iou * iou / 0.5)
    assert n == 4
    np.testing.assert_allclose(
        sorted(scores, reverse=True),
        sorted([_sigmoid(3), _sigmoid(1), decayed, _sigmoid(0)], reverse=True),
        rtol=1e-4,
    )


def test_score_threshold_and_max_detections_are_respected():
    cfg = CFG.with_overrides({"postprocess.score_threshold": 0.6, "postprocess.max_detections": 2})
    out = postprocess(_logits(), np.zeros((1, len(ANCHORS), 4), np.float32), ANCHORS, cfg)
    assert out["detection_boxes"].shape == (1, 2, 4)
    assert int(out["num_detections"][0]) == 2
    np.testing.assert_array_equal(out["detection_classes"][0], [1, 2])


def test_postprocess_traces_with_static_shapes():
    fn = tf.function(lambda c, b: postprocess(c, b, ANCHORS, CFG))
    spec = (
        tf.TensorSpec([None, len(ANCHORS), 2], tf.float32),
        tf.TensorSpec([None, len(ANCHORS), 4], tf.float32),
    )
    concrete = fn.get_concrete_function(*spec)
    shapes = {k: v.shape.as_list() for k, v in concrete.structured_outputs.items()}
    assert shapes["detection_boxes"] == [None, 100, 4]
    assert shapes["num_detections"] == [None]
    logits = np.concatenate([_logits(), np.full_like(_logits(), -10.0)])
    out = concrete(logits, np.zeros((2, len(ANCHORS), 4), np.float32))
    np.testing.assert_array_equal(out["num_detections"].numpy(), [3, 0])


@pytest.mark.parametrize("dtype", [np.float16])
def test_half_precision_outputs_are_accepted(dtype):
    out = postprocess(_logits().astype(dtype), np.zeros((1, len(ANCHORS), 4), dtype), ANCHORS, CFG)
    assert int(out["num_detections"][0]) == 3
