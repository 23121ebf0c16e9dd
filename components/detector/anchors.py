"""Anchor boxes: ``num_scales`` octave scales x aspect ratios at every location of every level.

Order (the same as the model's outputs): level (lowest first), then row, then column, then
scale, then aspect ratio. At level ``l`` the stride is ``2**l``, centres sit at
``(i + 0.5) * stride``, the base size is ``anchor_scale * stride * 2**(k / num_scales)`` and an
aspect ratio ``r`` (width / height) gives ``height = base / sqrt(r)``, ``width = base * sqrt(r)``.
"""

from __future__ import annotations

import numpy as np

from components.detector.config import DetectorConfig


def level_shapes(config: DetectorConfig) -> list[tuple[int, int, int]]:
    """Return ``(level, height, width)`` of each feature map, lowest level first."""
    return [
        (lvl, config.image_size // 2**lvl, config.image_size // 2**lvl) for lvl in config.levels
    ]


def num_anchors(config: DetectorConfig) -> int:
    """Return the number of anchors per image: sum over levels of (S / 2**l)**2 x scales x ratios."""
    per_location = config.anchors.per_location
    return sum(h * w * per_location for _, h, w in level_shapes(config))


def level_anchors(config: DetectorConfig, level: int) -> np.ndarray:
    """Return the anchors of one level as float32 ``[H*W*scales*ratios, 4]`` (ymin,xmin,ymax,xmax)."""
    cfg = config.anchors
    stride = 2.0**level
    size = config.image_size // 2**level
    sizes = []
    for k in range(cfg.num_scales):
        base = cfg.anchor_scale * stride * 2.0 ** (k / cfg.num_scales)
        for ratio in cfg.aspect_ratios:
            sizes.append((base / np.sqrt(ratio), base * np.sqrt(ratio)))
    hw = np.asarray(sizes, dtype=np.float64)  # [A, 2] (height, width)
    centres = (np.arange(size, dtype=np.float64) + 0.5) * stride
    cy, cx = np.meshgrid(centres, centres, indexing="ij")  # [H, W]
    cy = cy[:, :, None]
    cx = cx[:, :, None]
    half_h = hw[None, None, :, 0] / 2.0
    half_w = hw[None, None, :, 1] / 2.0
    boxes = np.stack([cy - half_h, cx - half_w, cy + half_h, cx + half_w], axis=-1)
    return boxes.reshape(-1, 4).astype(np.float32)


def generate_anchors(config: DetectorConfig) -> np.ndarray:
    """Return all anchors as float32 ``[A, 4]`` pixel (ymin,xmin,ymax,xmax) in the S x S input."""
    return np.concatenate([level_anchors(config, lvl) for lvl in config.levels], axis=0)
