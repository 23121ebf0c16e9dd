"""Detector config: presets follow the scaling table, JSON round trip, unknown keys rejected."""

from __future__ import annotations

import json

import pytest

from components.detector import config as config_lib
from components.detector.config import DetectorConfig
from components.detector.config_load import get_preset, load_architecture
from components.errors import UserError

# EfficientDet scaling table (docs/design.md): input / BiFPN width / BiFPN depth / head depth / backbone
SCALING = {
    "d0": (512, 64, 3, 3, "b0"),
    "d1": (640, 88, 4, 3, "b1"),
    "d2": (768, 112, 5, 3, "b2"),
    "d3": (896, 160, 6, 4, "b3"),
    "d4": (1024, 224, 7, 4, "b4"),
    "d5": (1280, 288, 7, 4, "b5"),
    "d6": (1280, 384, 8, 5, "b6"),
    "d7": (1536, 384, 8, 5, "b6"),
}


@pytest.mark.parametrize("name", sorted(SCALING))
def test_d_presets_follow_the_scaling_table(name):
    cfg = get_preset(name)
    got = (cfg.image_size, cfg.bifpn.width, cfg.bifpn.depth, cfg.head.depth, cfg.backbone.variant)
    assert got == SCALING[name]
    assert cfg.backbone.kind == "efficientnet"
    assert cfg.levels == [3, 4, 5, 6, 7]
    assert (cfg.anchors.num_scales, cfg.anchors.aspect_ratios, cfg.anchors.anchor_scale) == (
        3,
        (1.0, 2.0, 0.5),
        4.0,
    )
    assert (cfg.loss.focal_alpha, cfg.loss.focal_gamma, cfg.loss.huber_delta) == (0.25, 1.5, 0.1)
    assert cfg.loss.box_weight == 50.0
    t = cfg.train
    assert (t.learning_rate, t.learning_rate_batch, t.momentum, t.weight_decay) == (
        0.08,
        64,
        0.9,
        4e-5,
    )
    assert (t.warmup_epochs, t.clip_norm, t.ema_decay) == (1.0, 10.0, 0.9998)
    assert (cfg.postprocess.iou_threshold, cfg.postprocess.max_detections) == (0.5, 100)


def test_tiny_preset_is_small_and_uses_the_cell_backbone():
    cfg = get_preset("tiny")
    assert cfg.backbone.kind == "cells"
    assert cfg.image_size == 128
    assert cfg.levels == [3, 4, 5]
    assert 16 <= cfg.bifpn.width <= 32
    assert get_preset("tiny-effnet").backbone.kind == "efficientnet"


@pytest.mark.parametrize("name", ["tiny", "d0", "d7"])
def test_json_round_trip(name, tmp_path):
    cfg = get_preset(name)
    assert DetectorConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "architecture.json"
    cfg.save(path)
    assert DetectorConfig.load(path) == cfg
    assert load_architecture(str(path)) == cfg
    assert load_architecture(tmp_path) == cfg  # a directory holding architecture.json


def test_a_misspelt_key_gets_the_close_names():
    with pytest.raises(UserError, match=r"bifpn: unknown key 'widht' \(did you mean 'width'\?\)"):
        DetectorConfig.from_json(json.dumps({"bifpn": {"widht": 32}}))
    with pytest.raises(UserError, match=r"'train.learning_rat' \(did you mean 'learning_rate'"):
        get_preset("tiny").with_overrides({"train.learning_rat": 0.1})


def test_load_architecture_accepts_preset_names():
    assert load_architecture("d3") == get_preset("d3")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"imagesize": 512}, "detector config: unknown key 'imagesize'"),
        ({"bifpn": {"widht": 32}}, "bifpn: unknown key 'widht'"),
        ({"backbone": {"cells": {"stem": 8}}}, "backbone.cells: unknown key 'stem'"),
        (
            {
                "backbone": {
                    "cells": {
                        "normal_blocks": [
                            {"inputs": [0, 1], "ops": ["identity", "identity"], "x": 1}
                        ]
                    }
                }
            },
            "backbone.cells.normal_blocks[0]: unknown key 'x'",
        ),
    ],
)
def test_unknown_keys_are_rejected_with_their_name(data, key):
    with pytest.raises(UserError, match=key.replace("[", r"\[").replace("]", r"\]")):
        DetectorConfig.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"image_size": 100}, "multiple of"),
        ({"image_size": "512"}, "image_size: expected an integer"),
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": float("inf")}, "finite"),
        ({"loss": {"focal_gamma": float("nan")}}, "loss.focal_gamma"),
        ([1, 2], "expected a mapping"),
        ({"backbone": {"variant": "b9"}}, "b9"),
        (
            {
                "backbone": {
                    "cells": {
                        "normal_blocks": [{"inputs": [0, 1], "ops": ["conv_7x7", "identity"]}]
                    }
                }
            },
            "conv_7x7",
        ),
        (
            {
                "backbone": {
                    "cells": {
                        "normal_blocks": [{"inputs": [0, 2], "ops": ["identity", "identity"]}]
                    }
                }
            },
            "later block",
        ),
        ({"postprocess": {"nms": "fuzzy"}}, "hard|soft"),
        ({"bifpn": {"min_level": 2}}, "min_level"),
        ({"anchors": {"assigner": "simota"}}, r"anchors.assigner 'simota' \(known: iou, atss\)"),
        ({"anchors": {"atss_top_k": 0}}, "anchors.atss_top_k"),
        ({"loss": {"box_loss": "ciou"}}, r"loss.box_loss 'ciou' \(known: huber, giou\)"),
        ({"loss": {"giou_weight": -1.0}}, "loss.giou_weight"),
        ({"augment": {"scale_min": 0.0}}, "scale_min <= scale_max"),
        ({"augment": {"scale_min": 1.5, "scale_max": 1.0}}, "scale_min <= scale_max"),
        ({"augment": {"mosaic": 1.5}}, r"augment.mosaic must be in \[0, 1\]"),
        ({"augment": {"close_mosaic_fraction": -0.1}}, "augment.close_mosaic_fraction"),
        ({"augment": {"hsv_h": -0.01}}, "augment.hsv_h"),
        ({"augment": {"hsv_s": 2.0}}, "augment.hsv_s"),
        ({"augment": {"hsv_v": "0.4"}}, "augment.hsv_v: expected a number"),
        ({"augment": {"mixup": 0.1}}, "augment: unknown key 'mixup'"),
    ],
)
def test_bad_values_are_rejected(data, fragment):
    with pytest.raises(UserError, match=fragment):
        config_lib.from_dict(data)


def test_bad_files_and_presets_raise_user_errors(tmp_path):
    with pytest.raises(UserError, match="neither a config file nor a preset"):
        load_architecture("d9")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_architecture(str(broken))


def test_overrides_replace_values_and_validate():
    cfg = get_preset("tiny")
    changed = cfg.replace(num_classes=3, image_size=256)
    assert (changed.num_classes, changed.image_size) == (3, 256)
    assert changed.bifpn == cfg.bifpn
    dotted = cfg.with_overrides({"bifpn.width": 24, "anchors.aspect_ratios": [1.0]})
    assert dotted.bifpn.width == 24 and dotted.anchors.aspect_ratios == (1.0,)
    with pytest.raises(UserError, match="bifpn.wdth"):
        cfg.with_overrides({"bifpn.wdth": 24})
    with pytest.raises(UserError, match="num_classes"):
        cfg.replace(num_classes=0)


def test_scaled_learning_rate_is_linear_in_the_batch():
    assert get_preset("d0").train.scaled_learning_rate(8) == pytest.approx(0.01)


def test_the_new_options_default_to_the_old_behaviour():
    from components.data import augment

    for name in ("tiny", "tiny-effnet", "d0"):
        cfg = get_preset(name)
        assert (cfg.anchors.assigner, cfg.loss.box_loss) == ("iou", "huber")
        a = cfg.augment
        assert (a.mosaic, a.hsv_h, a.hsv_s, a.hsv_v) == (0.0, 0.0, 0.0, 0.0)
    # EfficientDet's jitter stays the default (d0..d7); the small presets jitter less
    assert (augment.SCALE_MIN, augment.SCALE_MAX) == (0.1, 2.0)
    assert (get_preset("d0").augment.scale_min, get_preset("d0").augment.scale_max) == (0.1, 2.0)
    for name in ("tiny", "tiny-effnet"):
        assert (get_preset(name).augment.scale_min, get_preset(name).augment.scale_max) == (
            0.5,
            1.5,
        )
    # an architecture.json written before these options loads with them at their defaults:
    # it keeps training the way it did (Huber box loss, EfficientDet's jitter)
    old = get_preset("tiny").to_dict()
    del old["augment"], old["anchors"]["assigner"], old["loss"]["box_loss"]
    before = get_preset("tiny").with_overrides({"augment.scale_min": 0.1, "augment.scale_max": 2.0})
    assert config_lib.from_dict(old) == before
