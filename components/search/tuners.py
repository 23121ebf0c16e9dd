"""KerasTuner tuners for the search: random, Bayesian optimisation and Hyperband.

A search is described by a :class:`SearchSpec` (plain JSON, so worker processes and pods get
the very same description). :func:`make_tuner` builds the tuner on the spec's project directory
with ``overwrite=False``: running the same spec again reloads the oracle and continues where it
stopped (finished trials are kept; a trial interrupted while running is run again from scratch).
The oracle's, the trials' and the tuner's state files are replaced atomically, so a search killed
at any moment can be resumed (:mod:`components.search.state_files`).
Every trial start and end is appended to ``events.jsonl`` in the project directory, and the
tuner's ``after_trial`` (if set) is called once a trial's files are written.

A trial that raises is recorded by the oracle as FAILED (no retries) and the search goes on:
the consecutive-failure limit is set above ``max_trials``, so only ``max_trials`` and the time
budget (``components.search.time_budget``) bound a search.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable

import keras_tuner

from components import progress
from components.detector.zero_cost import check_name as check_score_name
from components.errors import UserError
from components.search.choices import ALGORITHMS, OBJECTIVES
from components.search.confirm import ConfirmLeaders, network_key
from components.search.space import get_space
from components.search.state_files import AtomicOracleFiles, AtomicTunerFiles
from components.search.time_budget import TimeBudget
from components.tuner_settings import MIN, STEP

SCORE = "score"  # the oracle's objective: the (optionally latency-aware) reward, maximised
PROJECT_NAME = "search"
EVENTS_FILE = "events.jsonl"
ORACLE_FILE = "oracle.json"  # KerasTuner's: the oracle's state, written after the trial's own
HYPERBAND_FACTOR = 3
BAYESIAN_INITIAL_WITH_BUDGET = 10  # random (screened) points before the model proposes


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """Everything a tuner process needs to take part in a search (JSON round trip).

    ``directory`` holds the KerasTuner project ``search/``. ``epochs`` is the number of epochs
    per trial (for Hyperband: the most epochs any trial gets). ``latency_weight`` is the
    exponent of the latency-aware reward ``AP * (latency / reference) ** w``; 0 rewards AP
    alone. ``max_latency_ms`` is the hard limit asked for (None: the reference; <= 0: none);
    ``serving_size`` the input size latencies are measured at (0: each architecture's own).
    ``reference_ms`` is the measured latency of the space's base preset, filled in when the
    search starts and kept when it resumes (see ``components.search.latency_limit``).
    ``screen`` architectures are screened by the zero-cost score ``proxy`` before the search
    and the best ``max_trials`` are proposed first (``components.search.screening``; 0: none).
    ``trial_budget_s`` > 0 trains each trial for that many CPU seconds (the epochs, at most
    ``epochs``, and the schedule fitted to it, as the train step fits the pick's; Hyperband
    sets the epochs itself). ``budget_s`` > 0 is the search's time budget: no trial starts
    once the screening and the trials have taken that many seconds
    (``components.search.time_budget``); like ``max_trials`` it may change on a resume.
    ``confirm`` > 0, with a time budget and the random or Bayesian algorithm: the end of the
    budget trains the ``confirm`` best networks a second time and the pick is the best mean
    (``components.search.confirm``); it may change on a resume.
    ``train_images``/``eval_images`` cap the images a trial reads.
    ``data_digest`` is the examples' content fingerprint (``examples.data_fingerprint``): a
    search continues only on the data it started on, wherever that data now lives;
    ``space_digest`` the space's definition (``SearchSpace.digest``), so it continues only in
    the space it sampled its trials from.
    """

    examples_dir: str
    directory: str
    algorithm: str = STEP.algorithm
    max_trials: int = STEP.max_trials
    epochs: int = STEP.epochs
    seed: int = STEP.seed
    space: str = STEP.space
    objective: str = STEP.objective
    latency_weight: float = STEP.latency_weight
    max_latency_ms: float | None = STEP.max_latency_ms
    serving_size: int = 0
    reference_ms: float | None = None
    screen: int = STEP.screen
    proxy: str = STEP.proxy
    trial_budget_s: float = STEP.trial_budget_s
    budget_s: float = STEP.budget_s
    confirm: int = STEP.confirm
    train_images: int | None = None
    eval_images: int | None = None
    data_digest: str | None = None
    space_digest: str | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise UserError(
                f"unknown search algorithm {self.algorithm!r} (choose from: {', '.join(ALGORITHMS)})"
            )
        if self.objective not in OBJECTIVES:
            raise UserError(
                f"unknown objective {self.objective!r} (choose from: {', '.join(OBJECTIVES)})"
            )
        for name in ("max_trials", "epochs"):
            if getattr(self, name) < MIN[name]:
                raise UserError(
                    f"--{name.replace('_', '-')} must be at least {MIN[name]}, "
                    f"got {getattr(self, name)}"
                )
        for name in ("screen", "confirm"):
            if getattr(self, name) < MIN[name]:
                raise UserError(f"--{name} must be at least {MIN[name]}, got {getattr(self, name)}")
        check_score_name(self.proxy)
        if not (self.trial_budget_s >= 0 and math.isfinite(self.trial_budget_s)):
            raise UserError(
                f"--trial-budget-s must be a finite number >= 0, got {self.trial_budget_s}"
            )
        if not (self.budget_s >= 0 and math.isfinite(self.budget_s)):
            raise UserError(f"--budget-s must be a finite number >= 0, got {self.budget_s}")
        if self.serving_size < 0 or self.serving_size % 32:
            raise UserError(
                f"--serving-size must be 0 or a multiple of 32, got {self.serving_size}"
            )

    def to_json(self) -> str:
        """Return the spec as a JSON string."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SearchSpec:
        """Parse a spec written by :meth:`to_json`."""
        return cls(**json.loads(text))

    @property
    def limit_ms(self) -> float | None:
        """The latency limit in ms (None: no limit; see ``latency_limit.resolve_limit``)."""
        from components.search.latency_limit import resolve_limit

        return resolve_limit(self.max_latency_ms, self.reference_ms)

    @property
    def needs_reference(self) -> bool:
        """Whether the base preset's latency is used (by the reward or as the limit)."""
        return self.latency_weight != 0 or self.max_latency_ms is None

    @property
    def project_dir(self) -> str:
        """The KerasTuner project directory (``<directory>/search``)."""
        return os.path.join(self.directory, PROJECT_NAME)

    def resume_key(self) -> dict:
        """The fields that must match for a later run to continue this search."""
        keep = (
            "algorithm",
            "seed",
            "space",
            "objective",
            "latency_weight",
            "max_latency_ms",
            "serving_size",
            "screen",
            "proxy",
            "trial_budget_s",
            "epochs",
            "train_images",
            "eval_images",
            "data_digest",
            "space_digest",
        )
        return {k: v for k, v in dataclasses.asdict(self).items() if k in keep}


class _TrialEvents:
    """Tuner mixin: trial events in ``events.jsonl``, a cheap declaration of the space, and the
    measured cost of a trial refused over the latency limit recorded on it (it fails untrained).

    KerasTuner finds conditional hyperparameters by building models until every conditional
    scope was active once; the detector hypermodel declares all of them in one cheap pass
    (``declare_hyperparameters`` samples a config, builds nothing), so that is used instead.
    """

    def _populate_initial_space(self):
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def _event(self, trial, kind: str) -> None:
        record = {
            "event": kind,
            "trial_id": trial.trial_id,
            "tuner_id": self.tuner_id,
            "pid": os.getpid(),
            "status": str(trial.status),
            "time": time.time(),
        }
        try:
            with open(os.path.join(self.project_dir, EVENTS_FILE), "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError:  # e.g. an object-store project directory: events are best effort
            pass

    def __init__(self, oracle, hypermodel, **kwargs):
        # The algorithm's tuner class only builds its own oracle: this one is given (screened).
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        """Run the trial; one refused over the latency limit keeps its measured cost."""
        from components.search.latency_limit import OverLatencyLimit

        try:
            return super()._build_and_fit_model(trial, *args, **kwargs)
        except OverLatencyLimit as refused:
            self.oracle.update_trial(trial.trial_id, {SCORE: math.nan, **refused.metrics})
            raise

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._event(trial, "begin")
        if not hasattr(self, "_trial_clock"):
            self._trial_clock = (time.monotonic(), len(self._finished() or []))

    after_trial: Callable[[], object] | None = None  # e.g. the sync of a URI work folder

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self._event(trial, "end")
        if self.after_trial is not None:
            self.after_trial()
        self._progress(trial)

    def _finished(self) -> list | None:
        trials = getattr(self.oracle, "trials", None)
        if not isinstance(trials, dict):
            return None
        return [t for t in trials.values() if t.status in ("COMPLETED", "FAILED")]

    def _progress(self, trial) -> None:
        """``progress: trial n/N score .. best .. eta ..`` (finished trials of this search)."""
        done = self._finished()
        if done is None:  # a distributed worker's oracle client: the chief reports
            return
        total = max(self.oracle.max_trials or len(done), len(done))
        started, before = getattr(self, "_trial_clock", (time.monotonic(), len(done)))
        per_trial = (time.monotonic() - started) / max(len(done) - before, 1)
        left = self.oracle.budget_left_s()  # a time budget: the trials that start in it, at most
        if per_trial > 0 and math.isfinite(left):
            total = min(total, len(done) + math.ceil(left / per_trial))
        eta = per_trial * (total - len(done))
        score = trial.score if trial.score is not None else float("nan")
        best = self.oracle.get_best_trials(1)
        numbers = {"score": score, "best": best[0].score if best else float("nan")}
        progress.report("trial", len(done), total, numbers, eta)


class ScreenedFirst:
    """Oracle mixin: the architectures the screening selected (``screened``, by rank) are
    proposed first, each once, before any draw of the algorithm's own.

    Every algorithm draws its new points through ``_random_values``: random search all of
    them, Bayesian optimisation its initial points, Hyperband the candidates of its brackets.
    A candidate some trial already ran (a resumed search) is skipped.
    """

    screened: list[dict] = []

    def _random_values(self):
        tried = {network_key(t.hyperparameters.values) for t in self.trials.values()}
        while self.screened:
            values, self.screened = self.screened[0], self.screened[1:]
            if network_key(values) not in tried:
                return dict(values)
        return super()._random_values()


class ScreenedRandomOracle(
    ScreenedFirst,
    TimeBudget,
    ConfirmLeaders,
    AtomicOracleFiles,
    keras_tuner.oracles.RandomSearchOracle,
):
    """Random search, screened candidates first, the leaders confirmed at the end."""


class ScreenedBayesianOracle(
    ScreenedFirst,
    TimeBudget,
    ConfirmLeaders,
    AtomicOracleFiles,
    keras_tuner.oracles.BayesianOptimizationOracle,
):
    """Gaussian-process Bayesian optimisation, screened candidates as its first points, the
    leaders confirmed at the end."""


class ScreenedHyperbandOracle(
    ScreenedFirst, TimeBudget, AtomicOracleFiles, keras_tuner.oracles.HyperbandOracle
):
    """Hyperband, screened candidates first into its brackets."""


class RandomTuner(_TrialEvents, AtomicTunerFiles, keras_tuner.RandomSearch):
    """Random search with trial events."""


class BayesianTuner(_TrialEvents, AtomicTunerFiles, keras_tuner.BayesianOptimization):
    """Gaussian-process Bayesian optimisation with trial events."""


class HyperbandTuner(_TrialEvents, AtomicTunerFiles, keras_tuner.Hyperband):
    """Hyperband (successive halving over epochs) with trial events."""


_ALGORITHMS = {
    "random": (RandomTuner, ScreenedRandomOracle),
    "bayesian": (BayesianTuner, ScreenedBayesianOracle),
    "hyperband": (HyperbandTuner, ScreenedHyperbandOracle),
}


def make_tuner(
    spec: SearchSpec,
    hypermodel: keras_tuner.HyperModel,
    after_trial: Callable[[], object] | None = None,
) -> keras_tuner.Tuner:
    """Return the tuner of ``spec.algorithm`` for ``hypermodel`` on ``spec.project_dir``.

    An existing project is reloaded (resume). Hyperband gets ``max_epochs = spec.epochs`` and
    is stopped after ``spec.max_trials`` trials like the other algorithms; every algorithm
    stops starting trials when ``spec.budget_s`` is spent. The oracle proposes
    the space's base preset first (when the space can express it: the reference every pick is
    weighed against), then the candidates the screening selected (``screening.csv`` in
    ``spec.directory``).
    ``after_trial`` is called after each trial, once its files and the oracle's are written.
    """
    from components.search.screening import read_selected, screening_seconds

    os.makedirs(spec.directory, exist_ok=True)
    settings = dict(
        objective=keras_tuner.Objective(SCORE, direction="max"),
        # KerasTuner draws a random seed for a falsy one: seed 0 would not reproduce.
        seed=spec.seed + 1,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=spec.max_trials + 1,
    )
    tuner_class, oracle_class = _ALGORITHMS[spec.algorithm]
    if spec.algorithm == "random":
        oracle = oracle_class(max_trials=spec.max_trials, **settings)
    elif spec.algorithm == "bayesian":
        # With a time budget max_trials is only a cap, often far above the trials that fit.
        third = spec.max_trials // 3
        initial = max(2, min(third, BAYESIAN_INITIAL_WITH_BUDGET) if spec.budget_s else third)
        oracle = oracle_class(max_trials=spec.max_trials, num_initial_points=initial, **settings)
    else:
        oracle = oracle_class(
            max_epochs=spec.epochs, factor=HYPERBAND_FACTOR, hyperband_iterations=None, **settings
        )
    from components.search.hypermodel import base_values

    base = base_values(get_space(spec.space), spec.serving_size)
    oracle.screened = ([base] if base else []) + read_selected(spec.directory)
    oracle.start_clock(spec.budget_s, screening_seconds(spec.directory))  # before the reload
    oracle.confirm = spec.confirm
    tuner = tuner_class(
        oracle, hypermodel, directory=spec.directory, project_name=PROJECT_NAME, overwrite=False
    )
    tuner.oracle.max_trials = spec.max_trials
    tuner.after_trial = after_trial
    return tuner


def read_events(project_dir: str) -> list[dict]:
    """Return the trial events of a project (empty when none were written)."""
    path = os.path.join(project_dir, EVENTS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
