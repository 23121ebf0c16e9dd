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
    cfg = get_preset("tiny").replace(num_classes=2)
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
    cfg = get_preset("tiny").replace(num_classes=1)
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
