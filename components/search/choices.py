"""The search's algorithms and objectives: light (no KerasTuner), so ``nasdet search --help``
and its usage errors answer without importing TensorFlow. ``tuners`` implements each entry."""

from __future__ import annotations

ALGORITHMS = ("random", "bayesian", "hyperband")
OBJECTIVES = ("AP", "AP50")
