"""Detector presets as small deltas over the defaults of ``components.detector.config``.

The defaults of the config dataclasses are EfficientDet-D0; each preset lists only what differs.
``d0`` .. ``d7`` follow the EfficientDet scaling table (input / BiFPN width / BiFPN depth / head
depth / backbone): 512/64/3/3/B0, 640/88/4/3/B1, 768/112/5/3/B2, 896/160/6/4/B3,
1024/224/7/4/B4, 1280/288/7/4/B5, 1280/384/8/5/B6, 1536/384/8/5/B6.

``tiny`` is a searchable-cell backbone at 128 px on levels 3..5 that trains for a few epochs on a
CPU in well under a minute, with a milder scale jitter than EfficientDet's; ``tiny-effnet`` is
the same head on a narrow EfficientNet-B0 input.
"""

from __future__ import annotations

from typing import Any

# (image_size, bifpn width, bifpn depth, head depth, backbone variant)
SCALING_TABLE: dict[str, tuple[int, int, int, int, str]] = {
    "d0": (512, 64, 3, 3, "b0"),
    "d1": (640, 88, 4, 3, "b1"),
    "d2": (768, 112, 5, 3, "b2"),
    "d3": (896, 160, 6, 4, "b3"),
    "d4": (1024, 224, 7, 4, "b4"),
    "d5": (1280, 288, 7, 4, "b5"),
    "d6": (1280, 384, 8, 5, "b6"),
    "d7": (1536, 384, 8, 5, "b6"),
}


def _scaled(name: str) -> dict[str, Any]:
    size, width, depth, head_depth, variant = SCALING_TABLE[name]
    return {
        "image_size": size,
        "backbone": {"kind": "efficientnet", "variant": variant},
        "bifpn": {"width": width, "depth": depth},
        "head": {"depth": head_depth},
    }


# A small NASNet-style cell (4 blocks); the reduction cell uses the same wiring with stride 2.
TINY_NORMAL_BLOCKS = [
    {"inputs": [1, 1], "ops": ["sep_conv_3x3", "identity"]},
    {"inputs": [0, 1], "ops": ["sep_conv_3x3", "avg_pool_3x3"]},
    {"inputs": [2, 0], "ops": ["conv_1x1", "identity"]},
    {"inputs": [3, 1], "ops": ["sep_conv_5x5", "max_pool_3x3"]},
]

_TINY_COMMON: dict[str, Any] = {
    "image_size": 128,
    "bifpn": {"width": 32, "depth": 2, "min_level": 3, "max_level": 5},
    "head": {"depth": 2},
    "train": {
        "batch_size": 8,
        "epochs": 30,
        # Short CPU runs on a few hundred images need a higher rate than automl's 0.08 per 64
        # images. 0.6 (0.075 at batch 8): median test AP over 3 seeds at 128 px / 120 CPU s on
        # one thread was 1.09x / 1.04x / 1.10x / 1.16x that of 0.24 on raccoon / bccd / cards /
        # microcontroller; 0.4 gave 1.06x, 0.8 0.99x (README, "Detector quality").
        "learning_rate": 0.6,
        "ema_decay": 0.0,
        "batch_norm_momentum": 0.9,
    },
    "postprocess": {"pre_nms_top_k": 1000},
    # EfficientDet's scale jitter (0.1-2.0) is for long COCO schedules; on a few hundred
    # images and minutes of CPU it shrinks small objects out of reach half the time. 0.5-1.5
    # (Ultralytics' scale=0.5): median test AP over 3 seeds at 128 px / 120 CPU s went from
    # 0.148 to 0.221 on bccd, 0.074 to 0.154 on cards, 0.081 to 0.176 on microcontroller,
    # and stayed level on raccoon (README, "Detector quality").
    "augment": {"scale_min": 0.5, "scale_max": 1.5},
}

PRESETS: dict[str, dict[str, Any]] = {
    **{name: _scaled(name) for name in SCALING_TABLE},
    "tiny": {
        **_TINY_COMMON,
        "backbone": {
            "kind": "cells",
            "cells": {
                "stem_width": 16,
                "filters": 16,
                "filter_multiplier": 2.0,
                "cells_per_stage": 0,
                "normal_blocks": TINY_NORMAL_BLOCKS,
                "reduction_blocks": [],
            },
        },
    },
    "tiny-effnet": {
        **_TINY_COMMON,
        "backbone": {"kind": "efficientnet", "variant": "b0"},
    },
}


def preset_names() -> list[str]:
    """Return the names of every preset, in a stable order."""
    return list(PRESETS)
