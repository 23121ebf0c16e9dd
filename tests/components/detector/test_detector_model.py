"""Detector model: presets build, D0 matches the published size, cell backbones run forward."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

from components.detector import anchors, flops
from components.detector.cell_ops import op_names
from components.detector.config_load import get_preset
from components.detector.model import build_backbone, build_detector


@pytest.fixture(scope="module")
def d0():
    """The d0 detector (EfficientNet-B0, 90 classes as automl), built once for the module."""
    cfg = get_preset("d0")
    return cfg, build_detector(cfg)


def test_d0_has_the_published_parameter_count(d0):
    cfg, model = d0
    assert cfg.num_classes == 90
    # EfficientDet-D0: 3.9 M parameters
    assert abs(model.count_params() - 3.9e6) <= 0.1 * 3.9e6


def test_d0_flops_match_the_paper(d0):
    _, model = d0
    # EfficientDet-D0: 2.54 B FLOPs (multiply-adds) at 512 x 512
    assert abs(flops.count_macs(model) - 2.54e9) <= 0.1 * 2.54e9


def test_d0_output_shapes_match_the_anchor_count(d0):
    cfg, model = d0
    class_logits, box_deltas = model(np.zeros((1, 512, 512, 3), np.float32), training=False)
    assert class_logits.shape == (1, anchors.num_anchors(cfg), 90) == (1, 49104, 90)
    assert box_deltas.shape == (1, 49104, 4)


# published EfficientDet sizes (paper, table 2): parameters, FLOPs (multiply-adds)
PUBLISHED = {
    "d1": (6.6e6, 6.1e9),
    "d2": (8.1e6, 11e9),
    "d3": (12.0e6, 25e9),
    "d4": (20.7e6, 55e9),
    "d5": (33.7e6, 130e9),
    "d6": (51.9e6, 226e9),
    "d7": (51.9e6, 325e9),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_big_presets_build_with_the_published_size(name):
    """Builds d1..d7 (10-25 s each on 2 CPU cores; no forward pass) and checks their size."""
    cfg = get_preset(name)
    model = build_detector(cfg)
    params, macs = PUBLISHED[name]
    assert abs(model.count_params() - params) <= 0.05 * params
    assert abs(flops.count_macs(model) - macs) <= 0.05 * macs
    count = anchors.num_anchors(cfg)
    assert [tuple(o.shape) for o in model.outputs] == [(None, count, 90), (None, count, 4)]


@pytest.mark.parametrize("name", ["tiny", "tiny-effnet"])
def test_tiny_presets_run_forward(name):
    cfg = get_preset(name).replace(num_classes=3)
    model = build_detector(cfg)
    images = np.random.uniform(0, 255, (2, 128, 128, 3)).astype(np.float32)
    class_logits, box_deltas = model(images, training=False)
    count = anchors.num_anchors(cfg)
    assert class_logits.shape == (2, count, 3) and box_deltas.shape == (2, count, 4)
    assert class_logits.dtype == "float32"
    # the class bias starts at the 0.01 prior, so initial scores are small
    assert float(keras.ops.mean(keras.ops.sigmoid(class_logits))) < 0.05
    if name == "tiny":
        assert model.count_params() < 1_000_000


def test_outputs_follow_the_anchor_order():
    """A feature change at one level-4 location changes exactly that location's anchors."""
    cfg = get_preset("tiny").replace(num_classes=1)
    model = build_detector(cfg)
    images = np.random.uniform(0, 255, (1, 128, 128, 3)).astype(np.float32)
    base = model(images, training=False)[0].numpy()
    level3 = (128 // 8) ** 2 * 9
    level4 = (128 // 16) ** 2 * 9
    # the output slice for level 4 has H*W*9 rows; reshaping it to [8, 8, 9] must give the grid
    grid = base[0, level3 : level3 + level4, 0].reshape(8, 8, 9)
    assert np.all(np.isfinite(grid))
    anchor_grid = anchors.generate_anchors(cfg)[level3 : level3 + level4].reshape(8, 8, 9, 4)
    centres = (anchor_grid[..., 0] + anchor_grid[..., 2]) / 2
    np.testing.assert_allclose(centres[:, 0, 0], np.arange(8) * 16 + 8, atol=1e-4)


def _random_blocks(rng: random.Random, count: int):
    return [
        {
            "inputs": [rng.randrange(0, 2 + i), rng.randrange(0, 2 + i)],
            "ops": [rng.choice(op_names()), rng.choice(op_names())],
        }
        for i in range(count)
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_cell_backbones_build_and_run(seed):
    rng = random.Random(seed)
    cells = {
        "stem_width": 8,
        "filters": rng.choice([8, 12]),
        "filter_multiplier": rng.choice([1.5, 2.0]),
        "cells_per_stage": rng.choice([0, 1, 2]),
        "normal_blocks": _random_blocks(rng, rng.randint(1, 4)),
        "reduction_blocks": rng.choice([[], _random_blocks(rng, rng.randint(1, 3))]),
    }
    cfg = get_preset("tiny").with_overrides(
        {
            "image_size": 64,
            "num_classes": 2,
            "backbone.cells": cells,
            "bifpn.width": 16,
            "bifpn.depth": 1,
        }
    )
    backbone = build_backbone(cfg)
    feats = backbone(np.zeros((1, 64, 64, 3), np.float32))
    assert {k: tuple(v.shape[1:3]) for k, v in feats.items()} == {
        "3": (8, 8),
        "4": (4, 4),
        "5": (2, 2),
    }
    model = build_detector(cfg)
    class_logits, box_deltas = model(np.random.uniform(0, 255, (1, 64, 64, 3)).astype(np.float32))
    assert class_logits.shape == (1, anchors.num_anchors(cfg), 2)
    assert np.all(np.isfinite(box_deltas.numpy()))


def test_levels_beyond_the_backbone_are_downsampled():
    cfg = get_preset("tiny").with_overrides({"bifpn.max_level": 7, "num_classes": 1})
    model = build_detector(cfg)
    class_logits, _ = model(np.zeros((1, 128, 128, 3), np.float32))
    assert class_logits.shape[1] == anchors.num_anchors(cfg) == (256 + 64 + 16 + 4 + 1) * 9


def test_batch_norm_momentum_comes_from_the_config():
    model = build_detector(get_preset("tiny"))
    momenta = {
        layer.momentum
        for layer in model.get_layer("cell_backbone").layers + model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {get_preset("tiny").train.batch_norm_momentum}


def test_count_macs_by_hand():
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(8, 3, padding="same")
    x = conv(inputs)  # 16*16 positions x 8 outputs x 3*3*3 inputs
    sep = keras.layers.SeparableConv2D(8, 3, padding="same")
    x = sep(sep(x))  # twice: 16*16 x (9*8 + 8*8) each
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 8*8 x 9 x 8
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(4)(x)  # 8 x 4
    model = keras.Model(inputs, out)
    expected = 16 * 16 * 8 * 27 + 2 * 16 * 16 * (9 * 8 + 8 * 8) + 8 * 8 * 9 * 8 + 8 * 4
    assert flops.count_macs(model) == expected


def test_mixed_precision_outputs_stay_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_detector(get_preset("tiny").replace(num_classes=2, image_size=64))
        class_logits, box_deltas = model(np.zeros((1, 64, 64, 3), np.float32), training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert class_logits.dtype == "float32" and box_deltas.dtype == "float32"
    assert np.all(np.isfinite(class_logits.numpy()))


def test_efficientnet_backbone_loads_a_local_weights_file(tmp_path):
    cfg = get_preset("tiny-effnet").replace(image_size=64)
    source = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(64, 64, 3)
    )
    path = tmp_path / "b0.weights.h5"
    source.save_weights(path)
    backbone = build_backbone(cfg.with_overrides({"backbone.weights": str(path)}))
    expected = source.get_layer("block3b_project_conv").get_weights()[0]
    np.testing.assert_array_equal(
        backbone.get_layer("block3b_project_conv").get_weights()[0], expected
    )


def test_a_missing_weights_file_is_a_user_error(tmp_path):
    from components.errors import UserError

    cfg = get_preset("tiny-effnet").with_overrides({"backbone.weights": str(tmp_path / "nope.h5")})
    with pytest.raises(UserError, match="nope.h5"):
        build_backbone(cfg)


def test_keras_save_and_load_round_trip(tmp_path):
    cfg = get_preset("tiny").replace(num_classes=2, image_size=64)
    model = build_detector(cfg)
    path = tmp_path / "detector.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = np.random.uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    for a, b in zip(model(images), loaded(images), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
