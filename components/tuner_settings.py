"""The search step's settings: defaults and bounds, declared once.

``components.search.step.run`` takes its keyword defaults from :data:`STEP`, ``nasdet search``
takes its defaults and bounds from here, and the pipeline parameters (``pipelines.parameters``)
take theirs from :data:`PIPELINE`. The sets of choices are the step's registries, not copied
here: ``components.search.choices.ALGORITHMS`` / ``OBJECTIVES`` and
``components.search.space.SPACES`` (a test checks that these defaults are among them).

Kept out of the ``components.search`` package (light: no TensorFlow, no KerasTuner, no step
code), like ``components.blessing_rules``: compiling the pipeline must not import the steps (a
test refuses any module whose name starts with ``components.search``, hence this name).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """The tunable settings of one search (what ``run()``, the CLI and the pipeline share)."""

    algorithm: str = "random"
    max_trials: int = 3
    epochs: int = 1
    workers: int = 0
    seed: int = 0
    space: str = "small"
    objective: str = "AP"
    # Exponent of the latency-aware reward AP * (FLOPs / target) ** w; 0: AP alone.
    flops_weight: float = 0.0


# The lowest value each integer setting accepts (the CLI and the pipeline parameters check them).
MIN = {"max_trials": 1, "epochs": 1, "workers": 0}
# MnasNet's soft constraint is -0.07; a positive weight would reward bigger networks. Checked
# by the pipeline parameters (the command line takes any number, for experiments).
FLOPS_WEIGHT_RANGE = (-1.0, 0.0)

STEP = SearchSettings()
"""The step's own defaults (``run()`` and ``nasdet search``): a quick search that runs on a CPU."""

PIPELINE = dataclasses.replace(
    STEP, algorithm="bayesian", max_trials=20, epochs=5, space="large", flops_weight=-0.07
)
"""The pipeline's defaults: the production search, meant for GPUs (20 Bayesian trials of 5
epochs in the large space, MnasNet's latency-aware reward). The only place they differ from
:data:`STEP`; the quick local preset of ``nasdet run`` overrides them back down."""
