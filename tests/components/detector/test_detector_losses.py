"""Focal and Huber box losses against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.detector import losses
from components.detector.config_load import get_preset


def test_focal_loss_by_hand():
    logits = np.array([0.0, 2.0, -1.0], np.float32)
    labels = np.array([1.0, 0.0, 1.0], np.float32)
    got = losses.focal_loss(labels, logits, alpha=0.25, gamma=1.5).numpy()
    # logit 0, label 1: p = 0.5, BCE = ln 2, alpha_t = 0.25, (1 - p_t)^1.5 = 0.5^1.5
    first = 0.25 * 0.5**1.5 * math.log(2.0)
    # logit 2, label 0: p = 1 / (1 + e^-2), p_t = 1 - p, BCE = ln(1 + e^2), alpha_t = 0.75
    p = 1.0 / (1.0 + math.exp(-2.0))
    second = 0.75 * p**1.5 * math.log(1.0 + math.exp(2.0))
    # logit -1, label 1: p = 1 / (1 + e), BCE = ln(1 + e), alpha_t = 0.25
    p = 1.0 / (1.0 + math.e)
    third = 0.25 * (1.0 - p) ** 1.5 * math.log(1.0 + math.e)
    np.testing.assert_allclose(got, [first, second, third], rtol=1e-5)


def test_focal_loss_with_gamma_zero_is_weighted_cross_entropy():
    got = losses.focal_loss(np.float32([1.0]), np.float32([0.3]), alpha=0.5, gamma=0.0).numpy()
    np.testing.assert_allclose(got, [0.5 * math.log(1.0 + math.exp(-0.3))], rtol=1e-6)


def test_huber_loss_by_hand():
    targets = np.array([0.0, 0.0, 0.0, 1.0], np.float32)
    preds = np.array([0.05, -0.2, 0.1, 1.0], np.float32)
    got = losses.huber_loss(targets, preds, delta=0.1).numpy()
    # |e| <= delta: e^2 / 2; otherwise delta * (|e| - delta / 2)
    np.testing.assert_allclose(got, [0.00125, 0.1 * (0.2 - 0.05), 0.005, 0.0], atol=1e-7)


def test_detection_loss_by_hand():
    cfg = get_preset("tiny").with_overrides({"num_classes": 2, "loss.box_loss": "huber"})
    class_logits = np.zeros((1, 3, 2), np.float32)
    box_deltas = np.array(
        [[[0.0, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0]]], np.float32
    )
    class_targets = np.array([[1, 0, -1]], np.int32)  # positive class 1, background, ignored
    box_targets = np.array([[[0.05, -0.2, 0.0, 0.0], [0.0] * 4, [0.0] * 4]], np.float32)
    num_positives = np.array([1.0], np.float32)
    out = losses.detection_loss(
        class_logits, box_deltas, class_targets, box_targets, num_positives, cfg
    )
    c = 0.5**1.5 * math.log(2.0)  # focal at logit 0 without alpha_t
    normaliser = 1.0 + 1.0  # one positive + the automl offset 1
    # anchor 0: class 1 positive (0.25 c) + class 2 negative (0.75 c); anchor 1: 2 negatives (1.5 c)
    class_loss = (0.25 * c + 0.75 * c + 1.5 * c) / normaliser
    # only anchor 0 is positive: 0.05^2 / 2 + 0.1 * (0.2 - 0.05); divided by 4 x normaliser
    box_loss = (0.00125 + 0.015) / (4.0 * normaliser)
    assert float(out["class_loss"]) == pytest.approx(class_loss, rel=1e-5)
    assert float(out["box_loss"]) == pytest.approx(box_loss, rel=1e-5)
    assert float(out["loss"]) == pytest.approx(class_loss + 50.0 * box_loss, rel=1e-5)


def test_perfect_predictions_have_near_zero_loss():
    cfg = get_preset("tiny").with_overrides({"num_classes": 1, "loss.box_loss": "huber"})
    class_logits = np.array([[[20.0], [-20.0]]], np.float32)
    box_targets = np.array([[[0.1, 0.2, 0.3, 0.4], [0.0] * 4]], np.float32)
    out = losses.detection_loss(
        class_logits, box_targets, np.array([[1, 0]]), box_targets, np.array([1.0]), cfg
    )
    assert float(out["loss"]) < 1e-6


def test_focal_loss_gradients_stay_finite_when_predictions_saturate():
    import tensorflow as tf

    logits = tf.Variable([40.0, -40.0, 0.0])
    labels = tf.constant([1.0, 0.0, 1.0])
    for gamma in (0.0, 0.5, 1.5):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(losses.focal_loss(labels, logits, alpha=0.25, gamma=gamma))
        grad = tape.gradient(loss, logits).numpy()
        assert np.all(np.isfinite(grad)), (gamma, grad)


def _giou_case(shift: float):
    """One image, anchors 0 (positive, its box 32 x 32 px) and 1 (background); predictions
    moved ``shift`` anchor heights down from the truth."""
    import tensorflow as tf

    from components.detector import box_coding

    cfg = get_preset("tiny").replace(num_classes=1).with_overrides({"loss.box_loss": "giou"})
    anchors = np.array([[0, 0, 32, 32], [40, 40, 72, 72]], np.float32)
    truth = np.array([[4, 2, 30, 36]], np.float32)
    box_targets = np.concatenate([box_coding.encode(truth, anchors[:1]).numpy(), [[0.0] * 4]])
    deltas = tf.Variable((box_targets + [shift, 0.0, 0.0, 0.0])[None].astype(np.float32))
    return cfg, anchors, box_targets[None], deltas


def test_generalized_iou_by_hand():
    a = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1]], np.float32)
    b = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 3, 3]], np.float32)
    got = losses.generalized_iou(a, b).numpy()
    # identical: 1; overlap 1 of union 7 in a 3 x 3 hull: 1/7 - 2/9; disjoint: 0 - 7/9
    np.testing.assert_allclose(got, [1.0, 1 / 7 - 2 / 9, -7 / 9], rtol=1e-6)


def test_giou_box_loss_is_zero_when_perfect_and_grows_with_the_error():
    import tensorflow as tf

    values = []
    for shift in (0.0, 0.1, 0.5, 2.0):
        cfg, anchors, box_targets, deltas = _giou_case(shift)
        with tf.GradientTape() as tape:
            out = losses.detection_loss(
                np.array([[[0.0], [0.0]]], np.float32),
                deltas,
                np.array([[1, 0]]),
                box_targets,
                np.array([1.0]),
                cfg,
                anchors=anchors,
            )
        grad = tape.gradient(out["loss"], deltas).numpy()
        assert np.all(np.isfinite(grad)) and np.all(grad[0, 1] == 0)  # background: no gradient
        values.append(float(out["box_loss"]))
        expected = out["class_loss"] + cfg.loss.giou_weight * out["box_loss"]
        assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-6)
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert values == sorted(values) and values[-1] > values[1] > 0
    # box_loss = (1 - GIoU) / (1 positive + 1); a miss by 2 anchor heights is disjoint: 1 - GIoU > 1
    assert 0.5 < values[-1] <= 1.0


def test_giou_gradients_stay_finite_for_wild_predictions():
    import tensorflow as tf

    cfg, anchors, box_targets, _ = _giou_case(0.0)
    for wild in ([50.0, -50.0, 30.0, 30.0], [0.0, 0.0, -60.0, -60.0], [0.0, 0.0, 0.0, 0.0]):
        deltas = tf.Variable(np.array([[wild, [0.0] * 4]], np.float32))
        with tf.GradientTape() as tape:
            out = losses.detection_loss(
                np.zeros((1, 2, 1), np.float32),
                deltas,
                np.array([[1, 0]]),
                box_targets,
                np.array([1.0]),
                cfg,
                anchors=anchors,
            )
        assert np.isfinite(float(out["loss"]))
        assert np.all(np.isfinite(tape.gradient(out["loss"], deltas).numpy()))


def test_giou_needs_the_anchors_and_the_registry_matches_the_config():
    from components.errors import UserError

    cfg, _, box_targets, deltas = _giou_case(0.0)
    with pytest.raises(ValueError, match="anchors"):
        losses.detection_loss(
            np.zeros((1, 2, 1), np.float32), deltas, [[1, 0]], box_targets, [1.0], cfg
        )
    for name in losses.BOX_LOSSES:
        assert cfg.with_overrides({"loss.box_loss": name}).loss.box_loss == name
    with pytest.raises(UserError) as err:
        cfg.with_overrides({"loss.box_loss": "ciou"})
    assert f"(known: {', '.join(losses.BOX_LOSSES)})" in str(err.value)


def test_giou_loss_compiles_under_xla_with_the_same_value():
    import tensorflow as tf

    cfg, anchors, box_targets, deltas = _giou_case(0.3)
    args = (np.zeros((1, 2, 1), np.float32), deltas.numpy(), np.array([[1, 0]]), box_targets)
    eager = losses.detection_loss(*args, np.array([1.0]), cfg, anchors=anchors)
    xla = tf.function(
        lambda *a: losses.detection_loss(*a, np.array([1.0]), cfg, anchors=anchors),
        jit_compile=True,
    )(*args)
    assert float(xla["loss"]) == pytest.approx(float(eager["loss"]), rel=1e-5)
