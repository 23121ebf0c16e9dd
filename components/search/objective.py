"""The search objective: COCO AP of a trial's detector on the val split
(:func:`components.metrics.detector_ap.coco_metrics`), optionally latency-aware: MnasNet's
``AP * (latency / target) ** w`` on the measured serving latency, the target being the
measured latency of the space's base preset (w = -0.07 by default; w = 0 is plain AP).
"""

from __future__ import annotations

import math

from components.metrics.detector_ap import coco_metrics

__all__ = ["coco_metrics", "latency_reward"]


def latency_reward(ap: float, latency_ms: float, target_ms: float | None, weight: float) -> float:
    """Return ``ap * (latency_ms / target_ms) ** weight`` (``ap`` itself when ``weight`` is 0)."""
    if weight == 0:
        return float(ap)
    if not latency_ms or latency_ms <= 0 or not target_ms or target_ms <= 0:
        raise ValueError("the latency and the latency target must be positive")
    return float(ap) * math.pow(latency_ms / target_ms, weight)
