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
    # Exponent of the latency-aware reward AP * (latency / target) ** w (MnasNet), the target
    # being the measured latency of the space's base preset; 0: AP alone.
    latency_weight: float = 0.0
    # The hard latency limit in ms: None, the base preset's measured latency; <= 0, no limit.
    max_latency_ms: float | None = None
    # Architectures screened by a training-free score before the search (0: no screening),
    # and the score (a name of components.detector.zero_cost); the best max_trials are trained.
    screen: int = 0
    proxy: str = "params"
    # CPU seconds of training per trial, the epochs (at most ``epochs``) and the schedule fitted
    # to them as the train step fits the pick's to its budget; 0: ``epochs`` epochs per trial.
    trial_budget_s: float = 0.0
    # Seconds the whole search may take (screening and trials; no trial starts after it):
    # a time budget instead of a trial count; 0: none (max_trials alone bounds the search).
    budget_s: float = 0.0
    # With a time budget (random and Bayesian search): the end of the budget trains the
    # ``confirm`` networks with the best scores a second time, with another seed, and the pick
    # is the best mean of those trained twice; 0: the best single trial is the pick.
    confirm: int = 3


# The lowest value each integer setting accepts (the CLI and the pipeline parameters check them).
MIN = {"max_trials": 1, "epochs": 1, "workers": 0, "screen": 0, "confirm": 0}
# MnasNet's soft constraint is -0.07; a positive weight would reward slower networks. Checked
# by the pipeline parameters (the command line takes any number, for experiments).
LATENCY_WEIGHT_RANGE = (-1.0, 0.0)
# The word for "the latency of the space's base preset" where a latency limit is written.
BASE_LATENCY = "base"


def parse_max_latency(text: str) -> float | None:
    """``"base"`` -> None (the base preset's latency), a number of ms -> float (<= 0: no limit).

    ValueError with a one-line message for anything else (not finite included).
    """
    word = str(text).strip().lower()
    if word == BASE_LATENCY:
        return None
    try:
        value = float(word)
    except ValueError:
        raise ValueError(
            f"expected {BASE_LATENCY!r} or a latency in milliseconds (0: no limit), got {text!r}"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite latency in milliseconds, got {text!r}")
    return value


STEP = SearchSettings()
"""The step's own defaults (``run()`` and ``nasdet search``): a quick search that runs on a CPU."""

PIPELINE = dataclasses.replace(
    STEP, algorithm="bayesian", max_trials=20, epochs=5, space="large", latency_weight=-0.07
)
"""The pipeline's defaults: the production search, meant for GPUs (20 Bayesian trials of 5
epochs in the large space, MnasNet's reward on measured latency). The only place they differ
from :data:`STEP`; the quick local preset of ``nasdet run`` overrides them back down."""
