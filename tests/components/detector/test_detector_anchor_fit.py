"""Tests of components.detector.anchor_fit: the anchor scale fitted to the training boxes."""

from __future__ import annotations

import numpy as np
import pytest

from components.detector import anchor_fit
from components.detector.config_load import get_preset


def _square_boxes(side: float, n: int, size: int, rng) -> np.ndarray:
    """``n`` squares of ``side`` pixels at random places inside the S x S frame."""
    top_left = rng.uniform(0, size - side, size=(n, 2))
    return np.concatenate([top_left, top_left + side], axis=1)


def test_small_boxes_get_a_smaller_scale_that_covers_them():
    config = get_preset("tiny").with_overrides({"anchors.fit": True})  # 128 px, levels 3..5
    boxes = _square_boxes(20.0, 300, config.image_size, np.random.default_rng(0))

    fit = anchor_fit.fit_anchor_scale(config, boxes)

    assert fit.configured == 4.0 and fit.boxes == 300
    assert fit.anchor_scale < 4.0
    # 20 px squares against the smallest anchor of scale 4 (32 px): IoU 0.39, below 0.5.
    assert fit.covered[4.0] < 0.05
    assert fit.covered[fit.anchor_scale] >= max(fit.covered.values()) - anchor_fit.TOLERANCE
    assert fit.covered[fit.anchor_scale] > 0.8
    fitted = config.with_overrides({"anchors.anchor_scale": fit.anchor_scale})
    counts = anchor_fit.positives_per_box(fitted, boxes)
    assert np.mean(counts > 0) == pytest.approx(fit.covered[fit.anchor_scale])


def test_boxes_the_configured_scale_covers_keep_it():
    config = get_preset("tiny").with_overrides({"anchors.fit": True})
    boxes = _square_boxes(70.0, 100, config.image_size, np.random.default_rng(1))

    fit = anchor_fit.fit_anchor_scale(config, boxes)

    assert fit.covered[4.0] == 1.0
    assert fit.anchor_scale == 4.0
    assert "anchor scale 4 fitted to 100 training boxes: 100%" in fit.summary()


def test_no_boxes_keeps_the_configured_scale():
    config = get_preset("tiny").with_overrides({"anchors.anchor_scale": 3.0})
    assert anchor_fit.fit_anchor_scale(config, np.zeros([0, 4])).anchor_scale == 3.0


def test_input_frame_boxes_follow_the_resize_of_the_longer_side():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.5, 0.25, 1.0, 0.5]])
    # a 200 x 400 image at 128 px: scale 0.32, content 64 x 128 at the top left
    pixels = anchor_fit.input_frame_boxes(boxes, [200, 200], [400, 400], 128)
    np.testing.assert_allclose(pixels, [[0, 0, 64, 128], [32, 32, 64, 64]])


def test_fit_to_examples_is_off_unless_asked(tmp_path):
    config = get_preset("tiny")
    assert config.anchors.fit is False
    same, fit = anchor_fit.fit_to_examples(config, str(tmp_path / "nothing-here"), "train")
    assert same is config and fit is None
