"""Backbone and cell-op registries: unknown names are errors listing the known ones, and a
backbone or op registered by a test alone is validated, built, described and signed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from components.detector import backbones, cell_ops
from components.detector import config as config_lib
from components.detector.config_load import get_preset
from components.errors import UserError

KNOWN_KINDS = "known: efficientnet, cells"
KNOWN_OPS = (
    "known: identity, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, conv_1x1, avg_pool_3x3, "
    "max_pool_3x3"
)
TOY = "toy"
TOY_OP = "toy_conv_3x3"


def _blocks(ops: tuple[str, str]) -> list[dict]:
    return [{"inputs": [0, 1], "ops": list(ops)}]


def test_the_registries_list_the_shipped_names_in_order():
    assert backbones.kinds() == ("efficientnet", "cells")
    assert cell_ops.op_names() == tuple(KNOWN_OPS.removeprefix("known: ").split(", "))


def test_importing_the_config_imports_no_keras():
    code = (
        "import sys, components.detector.config, components.detector.config_load; "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_backbone_kind_is_rejected_with_the_known_kinds():
    with pytest.raises(UserError, match=rf"unknown backbone.kind 'resnet' \({KNOWN_KINDS}\)"):
        config_lib.from_dict({"backbone": {"kind": "resnet"}})
    with pytest.raises(UserError, match=KNOWN_KINDS):
        get_preset("tiny").with_overrides({"backbone.kind": "resnet"})
    with pytest.raises(UserError, match=KNOWN_KINDS):
        backbones.get("resnet")


def test_an_unknown_cell_op_is_rejected_with_the_known_ops():
    data = {"backbone": {"cells": {"normal_blocks": _blocks(("conv_7x7", "identity"))}}}
    with pytest.raises(UserError, match=rf"unknown cell op 'conv_7x7' \({KNOWN_OPS}\)"):
        config_lib.from_dict(data)


def test_building_an_unregistered_backbone_kind_is_a_user_error():
    from components.detector.model import build_backbone

    backbones.register(backbones.Backbone(TOY, build=_build_toy_backbone))
    try:
        config = get_preset("tiny").with_overrides({"backbone.kind": TOY})
    finally:
        backbones.unregister(TOY)
    with pytest.raises(UserError, match=rf"unknown backbone.kind 'toy' \({KNOWN_KINDS}\)"):
        build_backbone(config)


def test_building_an_unregistered_cell_op_is_a_user_error():
    import keras

    from components.detector.model import build_backbone

    with pytest.raises(UserError, match=rf"unknown cell op 'conv_7x7' \({KNOWN_OPS}\)"):
        cell_ops.apply_op("conv_7x7", keras.Input((8, 8, 4)), 4, 1, "b0")
    cell_ops.register_op(TOY_OP)(_toy_conv)
    try:
        config = get_preset("tiny").with_overrides(
            {"backbone.cells.normal_blocks": _blocks((TOY_OP, "identity"))}
        )
    finally:
        cell_ops.unregister_op(TOY_OP)
    with pytest.raises(UserError, match=rf"unknown cell op 'toy_conv_3x3' \({KNOWN_OPS}\)"):
        build_backbone(config)


def test_names_are_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        backbones.register(backbones.Backbone("cells", build=_build_toy_backbone))
    with pytest.raises(ValueError, match="already registered"):
        cell_ops.register_op("identity")(_toy_conv)


# --- the extension points: a backbone and an op that exist only in this test file -------------


def _build_toy_backbone(config):
    """Strided 3x3 convolutions to stride 32; levels bifpn.min_level .. 5."""
    import keras
    from keras import layers

    size = config.image_size
    images = keras.Input((size, size, 3), name="images")
    x = layers.Rescaling(1.0 / 255.0, name="toy_rescale")(images)
    outputs = {}
    for level in range(1, 6):
        width = 8 * min(level, 4)
        x = layers.Conv2D(width, 3, strides=2, padding="same", name=f"toy_conv{level}")(x)
        if level >= config.bifpn.min_level:
            outputs[str(level)] = x
    return keras.Model(images, outputs, name="toy_backbone")


def _validate_toy(backbone) -> None:
    if backbone.weights != "none":
        raise UserError(f"backbone.weights: the toy backbone has no weights ({backbone.weights!r})")


def _toy_conv(x, channels: int, stride: int, name: str):
    from keras import layers

    return layers.Conv2D(channels, 3, strides=stride, padding="same", name=f"{name}_toy")(x)


@pytest.fixture
def toy_backbone():
    backbones.register(
        backbones.Backbone(
            TOY,
            build=_build_toy_backbone,
            describe=lambda backbone: f"toy-{backbone.variant}",
            signature_fields=("variant",),
            validate=_validate_toy,
        )
    )
    yield TOY
    backbones.unregister(TOY)
    assert TOY not in backbones.kinds()


@pytest.fixture
def toy_op():
    cell_ops.register_op(TOY_OP)(_toy_conv)
    yield TOY_OP
    cell_ops.unregister_op(TOY_OP)
    assert TOY_OP not in cell_ops.op_names()


def _forward(detector, size: int):
    logits, deltas = detector(np.zeros((1, size, size, 3), np.float32))
    assert np.isfinite(np.asarray(logits)).all() and deltas.shape[-1] == 4
    return logits


def test_a_registered_backbone_is_validated_built_described_and_signed(toy_backbone):
    from components.detector.describe import describe
    from components.detector.model import build_backbone
    from components.train.warm_start import architecture_signature

    config = get_preset("tiny").with_overrides(
        {"backbone.kind": toy_backbone, "backbone.variant": "b2", "num_classes": 2}
    )
    assert config_lib.from_dict(config.to_dict()) == config
    with pytest.raises(UserError, match="the toy backbone has no weights"):
        config.with_overrides({"backbone.weights": "imagenet"})

    features = build_backbone(config)
    assert features.name == "toy_backbone" and set(features.output) == {"3", "4", "5"}
    summary = describe(config)
    assert summary["backbone"] == "toy-b2"
    assert summary["parameters"] > 0 and summary["flops"] > 0
    from components.detector.model import build_detector

    assert _forward(build_detector(config), config.image_size).shape[-1] == 2

    signature = architecture_signature(config)
    assert signature["backbone"] == {"kind": "toy", "variant": "b2"}
    other = config.with_overrides({"backbone.cells.filters": 8, "backbone.variant": "b3"})
    assert architecture_signature(other)["backbone"] == {"kind": "toy", "variant": "b3"}


def test_an_unregistered_backbone_is_rejected_again(toy_backbone):
    backbones.unregister(toy_backbone)
    with pytest.raises(UserError, match=KNOWN_KINDS):
        get_preset("tiny").with_overrides({"backbone.kind": toy_backbone})
    backbones.register(backbones.Backbone(toy_backbone, build=_build_toy_backbone))


def test_a_registered_op_is_validated_built_described_and_signed(toy_op):
    from components.detector.describe import describe
    from components.detector.model import build_detector
    from components.train.warm_start import architecture_signature

    config = get_preset("tiny").with_overrides(
        {
            "num_classes": 1,
            "image_size": 64,
            "backbone.cells.normal_blocks": _blocks((toy_op, "identity")),
            "backbone.cells.cells_per_stage": 1,
        }
    )
    detector = build_detector(config)
    names = [layer.name for layer in detector.get_layer("cell_backbone").layers]
    assert "stage0_cell0_b0_0_toy" in names  # the op of block 0, first input
    assert "stage1_reduce_b0_0_toy" in names  # the reduction cell reuses the normal blocks
    _forward(detector, 64)
    plain = config.with_overrides(
        {"backbone.cells.normal_blocks": _blocks(("sep_conv_3x3", "identity"))}
    )
    assert describe(config)["flops"] != describe(plain)["flops"]  # counted from the graph
    ops = architecture_signature(config)["backbone"]["cells"]["normal_blocks"][0]["ops"]
    assert ops == [toy_op, "identity"]
