"""The anchor scale fitted to the training boxes (``anchors.fit``).

EfficientDet's anchor scale 4 makes the smallest anchor 32 px on level 3: made for COCO at 512 px
and more. At 128 px a dataset of small objects (blood cells about 20 px across) then has no
anchor with IoU >= ``matched_threshold`` for most of its boxes, and each such box trains on the
single anchor ``force_match`` gives it. Fitting measures, for every candidate scale, the share of
training boxes (in the S x S input frame, where the model sees them) that have at least one
anchor at the matching threshold, and keeps the candidate nearest the configured scale among
those within ``TOLERANCE`` of the best share: data whose boxes the configured anchors already
cover keep them unchanged.

Pure numpy over pixel boxes; :func:`fit_to_examples` reads the boxes of an Examples split
(no image is decoded).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from components.detector.anchors import generate_anchors
from components.detector.config import DetectorConfig

CANDIDATES = tuple(float(s) for s in np.arange(1.5, 6.01, 0.25))
TOLERANCE = 0.02  # candidates within this share of the best count as equally good
MAX_BOXES = 1000  # a seeded sample of the boxes beyond this many
_CHUNK = 128  # boxes per IoU block (bounded memory at 512 px and more)


@dataclasses.dataclass(frozen=True)
class AnchorFit:
    """The chosen ``anchor_scale`` and, per candidate, the share of boxes with a positive anchor."""

    anchor_scale: float
    configured: float
    boxes: int
    covered: dict[float, float]
    median_positives: dict[float, float]

    def summary(self) -> str:
        """One line for the log: the scale chosen and the coverage it gives."""
        chosen, before = self.covered[self.anchor_scale], self.covered.get(self.configured)
        was = f"; {before:.0%} at the configured {self.configured:g}" if before is not None else ""
        return (
            f"anchor scale {self.anchor_scale:g} fitted to {self.boxes} training boxes: "
            f"{chosen:.0%} of them have an anchor at the matching IoU{was}"
        )

    def to_dict(self) -> dict:
        """Plain JSON data (candidate scales as strings)."""
        return {
            "anchor_scale": self.anchor_scale,
            "configured": self.configured,
            "boxes": self.boxes,
            "covered": {f"{k:g}": round(v, 4) for k, v in self.covered.items()},
            "median_positives": {f"{k:g}": v for k, v in self.median_positives.items()},
        }


def _iou(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of ``[N, 4]`` boxes against ``[M, 4]`` anchors, both (ymin, xmin, ymax, xmax)."""
    ymin = np.maximum(boxes[:, None, 0], anchors[None, :, 0])
    xmin = np.maximum(boxes[:, None, 1], anchors[None, :, 1])
    ymax = np.minimum(boxes[:, None, 2], anchors[None, :, 2])
    xmax = np.minimum(boxes[:, None, 3], anchors[None, :, 3])
    inter = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
    area_b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    return inter / np.maximum(area_b[:, None] + area_a[None, :] - inter, 1e-9)


def positives_per_box(config: DetectorConfig, boxes: np.ndarray) -> np.ndarray:
    """Number of anchors of ``config`` with IoU >= ``matched_threshold`` for each pixel box."""
    anchors = generate_anchors(config)
    boxes = np.asarray(boxes, np.float32)
    threshold = config.anchors.matched_threshold
    counts = [
        (_iou(boxes[i : i + _CHUNK], anchors) >= threshold).sum(axis=1)
        for i in range(0, len(boxes), _CHUNK)
    ]
    return np.concatenate(counts) if counts else np.zeros([0], np.int64)


def fit_anchor_scale(config: DetectorConfig, boxes: np.ndarray, seed: int = 0) -> AnchorFit:
    """Return the :class:`AnchorFit` of ``boxes`` (``[N, 4]`` pixels in the S x S input frame)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) > MAX_BOXES:
        keep = np.random.default_rng(seed).choice(len(boxes), MAX_BOXES, replace=False)
        boxes = boxes[np.sort(keep)]
    configured = float(config.anchors.anchor_scale)
    if len(boxes) == 0:
        return AnchorFit(configured, configured, 0, {configured: 0.0}, {configured: 0.0})
    covered, median = {}, {}
    for scale in sorted(set(CANDIDATES) | {configured}):
        counts = positives_per_box(config.with_overrides({"anchors.anchor_scale": scale}), boxes)
        covered[scale] = float(np.mean(counts > 0))
        median[scale] = float(np.median(counts))
    best = max(covered.values())
    good = [s for s, share in covered.items() if share >= best - TOLERANCE]
    chosen = min(good, key=lambda s: (abs(s - configured), -s))
    return AnchorFit(chosen, configured, len(boxes), covered, median)


def input_frame_boxes(
    boxes: np.ndarray, heights: np.ndarray, widths: np.ndarray, size: int
) -> np.ndarray:
    """Normalised boxes of images ``heights x widths`` -> pixels in the S x S input frame.

    The image is resized with its longer side to ``size`` and padded bottom / right (as
    ``components.data.preprocess.resize_and_pad`` does); one row per box, with its image's size.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    heights = np.asarray(heights, np.float64)
    widths = np.asarray(widths, np.float64)
    scale = size / np.maximum(np.maximum(heights, widths), 1.0)
    h, w = heights * scale, widths * scale
    return boxes * np.stack([h, w, h, w], axis=-1)


def fit_to_examples(
    config: DetectorConfig, examples_dir: str, split: str
) -> tuple[DetectorConfig, AnchorFit | None]:
    """Return ``config`` with its anchor scale fitted to ``split``'s boxes when ``anchors.fit``.

    Without ``anchors.fit`` the config comes back unchanged with ``None``.
    """
    if not config.anchors.fit:
        return config, None
    from components.data.example_reader import read_boxes

    boxes, heights, widths = read_boxes(examples_dir, split)
    fit = fit_anchor_scale(config, input_frame_boxes(boxes, heights, widths, config.image_size))
    return config.with_overrides({"anchors.anchor_scale": fit.anchor_scale}), fit
