"""Warm-start signatures: unchanged for every preset (models trained before must still match)."""

from __future__ import annotations

import json

import pytest

from components.detector import presets
from components.detector.config_load import get_preset
from components.errors import UserError
from components.train import artifact
from components.train.warm_start import architecture_signature, check_model_artifact

# The signatures as computed before the backbone registry existed (the kind switch in
# warm_start.py): a Model artifact exported then must still be accepted for a warm start.
_TINY_BLOCKS = [
    {"inputs": [1, 1], "ops": ["sep_conv_3x3", "identity"]},
    {"inputs": [0, 1], "ops": ["sep_conv_3x3", "avg_pool_3x3"]},
    {"inputs": [2, 0], "ops": ["conv_1x1", "identity"]},
    {"inputs": [3, 1], "ops": ["sep_conv_5x5", "max_pool_3x3"]},
]
_TINY_HEADS = {
    "bifpn": {"width": 32, "depth": 2, "min_level": 3, "max_level": 5},
    "head": {"depth": 2, "separable": True},
}


def _d(variant: str, width: int, depth: int, head_depth: int) -> dict:
    return {
        "num_classes": 90,
        "backbone": {"kind": "efficientnet", "variant": variant},
        "bifpn": {"width": width, "depth": depth, "min_level": 3, "max_level": 7},
        "head": {"depth": head_depth, "separable": True},
        "anchors_per_location": 9,
    }


EXPECTED_SIGNATURES = {
    "d0": _d("b0", 64, 3, 3),
    "d1": _d("b1", 88, 4, 3),
    "d2": _d("b2", 112, 5, 3),
    "d3": _d("b3", 160, 6, 4),
    "d4": _d("b4", 224, 7, 4),
    "d5": _d("b5", 288, 7, 4),
    "d6": _d("b6", 384, 8, 5),
    "d7": _d("b6", 384, 8, 5),
    "tiny": {
        "num_classes": 90,
        "backbone": {
            "kind": "cells",
            "cells": {
                "stem_width": 16,
                "filters": 16,
                "filter_multiplier": 2.0,
                "cells_per_stage": 0,
                "normal_blocks": _TINY_BLOCKS,
                "reduction_blocks": [],
            },
        },
        **_TINY_HEADS,
        "anchors_per_location": 9,
    },
    "tiny-effnet": {
        "num_classes": 90,
        "backbone": {"kind": "efficientnet", "variant": "b0"},
        **_TINY_HEADS,
        "anchors_per_location": 9,
    },
}


def test_every_preset_has_an_expected_signature():
    assert set(EXPECTED_SIGNATURES) == set(presets.preset_names())


@pytest.mark.parametrize("name", sorted(EXPECTED_SIGNATURES))
def test_preset_signatures_are_unchanged(name):
    signature = architecture_signature(get_preset(name))
    assert signature == EXPECTED_SIGNATURES[name]
    assert json.loads(json.dumps(signature)) == signature  # plain JSON data


def test_the_signature_ignores_what_does_not_shape_the_weights():
    effnet = get_preset("tiny-effnet")
    assert architecture_signature(effnet) == architecture_signature(
        effnet.with_overrides({"backbone.weights": "imagenet", "backbone.cells.filters": 8})
    )
    cells = get_preset("tiny")
    assert architecture_signature(cells) == architecture_signature(
        cells.with_overrides({"backbone.variant": "b3", "train.epochs": 2})
    )
    assert architecture_signature(cells) != architecture_signature(
        cells.with_overrides({"backbone.cells.filters": 8})
    )


def _model_dir(tmp_path, config):
    (tmp_path / artifact.WEIGHTS_FILE).write_bytes(b"")
    config.save(tmp_path / artifact.CONFIG_FILE)
    return str(tmp_path)


def test_check_model_artifact_accepts_the_same_architecture(tmp_path):
    config = get_preset("tiny")
    model_dir = _model_dir(tmp_path, config.replace(name="exported"))
    assert check_model_artifact(model_dir, config).endswith(artifact.WEIGHTS_FILE)


def test_check_model_artifact_rejects_another_backbone(tmp_path):
    model_dir = _model_dir(tmp_path, get_preset("tiny-effnet"))
    with pytest.raises(UserError, match="different architecture.*backbone.kind"):
        check_model_artifact(model_dir, get_preset("tiny"))
