"""Anchors (count, order, sizes) and box coding (encode/decode round trip)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.detector import anchors, box_coding
from components.detector.config_load import get_preset


@pytest.mark.parametrize("name", ["tiny", "d0", "d3", "d7"])
def test_anchor_count_formula(name):
    cfg = get_preset(name)
    expected = sum((cfg.image_size // 2**lvl) ** 2 * 9 for lvl in cfg.levels)
    assert anchors.num_anchors(cfg) == expected
    if name in ("tiny", "d0"):
        assert anchors.generate_anchors(cfg).shape == (expected, 4)
    if name == "d0":
        assert expected == 49104  # 64^2+32^2+16^2+8^2+4^2 locations x 9


def test_first_anchors_have_the_documented_sizes_and_order():
    cfg = get_preset("tiny")
    boxes = anchors.generate_anchors(cfg)
    # level 3 (stride 8), location (0, 0): centre (4, 4); scale 0 ratio 1 -> 32 x 32
    np.testing.assert_allclose(boxes[0], [-12, -12, 20, 20], atol=1e-5)
    # ratio 2 (width / height): height 32 / sqrt 2, width 32 * sqrt 2
    h, w = 32 / math.sqrt(2), 32 * math.sqrt(2)
    np.testing.assert_allclose(boxes[1], [4 - h / 2, 4 - w / 2, 4 + h / 2, 4 + w / 2], atol=1e-4)
    # scale 1 (index 3): 32 * 2^(1/3)
    s = 32 * 2 ** (1 / 3)
    np.testing.assert_allclose(boxes[3], [4 - s / 2, 4 - s / 2, 4 + s / 2, 4 + s / 2], atol=1e-4)
    # next location is one stride to the right
    np.testing.assert_allclose(boxes[9], boxes[0] + [0, 8, 0, 8], atol=1e-5)
    # the last anchor is level 5's bottom-right location, largest scale, ratio 0.5 (tall)
    s = 4 * 32 * 2 ** (2 / 3)
    c = 128 - 16
    h, w = s / math.sqrt(0.5), s * math.sqrt(0.5)
    np.testing.assert_allclose(boxes[-1], [c - h / 2, c - w / 2, c + h / 2, c + w / 2], atol=1e-3)


@pytest.mark.parametrize("scale_factors", [None, (10.0, 10.0, 5.0, 5.0)])
def test_encode_decode_round_trip(scale_factors):
    rng = np.random.default_rng(0)
    cfg = get_preset("tiny")
    anchor_boxes = anchors.generate_anchors(cfg)
    centre = rng.uniform(0, 128, (len(anchor_boxes), 2))
    size = rng.uniform(2, 150, (len(anchor_boxes), 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
    deltas = box_coding.encode(boxes, anchor_boxes, scale_factors)
    back = box_coding.decode(deltas, anchor_boxes, scale_factors).numpy()
    np.testing.assert_allclose(back, boxes, rtol=1e-4, atol=1e-3)
    again = box_coding.encode(back, anchor_boxes, scale_factors).numpy()
    np.testing.assert_allclose(again, deltas.numpy(), atol=1e-4)


def test_encode_by_hand():
    anchor = np.array([[10.0, 20.0, 30.0, 60.0]], np.float32)  # centre (20, 40), h 20, w 40
    box = np.array([[12.0, 24.0, 52.0, 64.0]], np.float32)  # centre (32, 44), h 40, w 40
    deltas = box_coding.encode(box, anchor).numpy()[0]
    np.testing.assert_allclose(deltas, [12 / 20, 4 / 40, math.log(2.0), 0.0], atol=1e-6)
