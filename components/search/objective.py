"""The search objective: COCO AP of a trial's detector on the val split
(:func:`components.metrics.detector_ap.coco_metrics`), optionally latency-aware: MnasNet's
``AP * (FLOPs / target_FLOPs) ** w`` (w = -0.07 by default; w = 0 is plain AP).
"""

from __future__ import annotations

import math

from components.metrics.detector_ap import coco_metrics

__all__ = ["coco_metrics", "latency_reward"]


def latency_reward(ap: float, flops: float, target_flops: float, weight: float) -> float:
    """Return ``ap * (flops / target_flops) ** weight`` (``ap`` itself when ``weight`` is 0)."""
    if weight == 0:
        return float(ap)
    if flops <= 0 or target_flops <= 0:
        raise ValueError("FLOPs and the FLOPs target must be positive")
    return float(ap) * math.pow(flops / target_flops, weight)
