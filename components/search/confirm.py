"""Confirming the leaders: the end of a time-budgeted search trains its best networks again.

A trial trains a network once, with one initialisation and one data order; two trials of the
same network rank a search's networks far from perfectly (Kendall tau 0.37-0.58 measured on
four datasets at 120-s trials), so the best single score of 20-50 trials is largely the
luckiest one. With a time budget the oracle therefore keeps the end of the budget for repeats:
once the seconds left would only pay for the repeats still missing, each new trial trains
again the best network (by its mean score) among the ``confirm`` best that has been trained
only once, with another seed (``REPEAT_KEY`` in the trial's values: the hypermodel draws the
repeat's initialisation and data order from it). The pick is then the network with the best
mean score among those trained at least twice (``pick_rows``).

Only a search with a time budget confirms: a trial count is the user's exact request, and the
quick preset's three trials have no end to spare. Hyperband re-trains its best candidates
longer by design and does not take this mixin.
"""

from __future__ import annotations

import json
import math
import statistics

REPEAT_KEY = "tuner/repeat"  # the repeat's number (1, 2, ...); absent on a network's first trial
RUNNING, COMPLETED = "RUNNING", "COMPLETED"


def network_values(values: dict) -> dict:
    """The network a trial trained: its values without KerasTuner's ``tuner/`` bookkeeping."""
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def network_key(values: dict) -> str:
    """``network_values`` as a string, the same for every trial of one network."""
    return json.dumps(network_values(values), sort_keys=True)


def leaders(scored: list[tuple[str, float]], count: int) -> list[tuple[str, float, int]]:
    """The ``count`` networks with the best mean score: (key, mean, trials), best first.

    ``scored`` holds one (network key, score) pair per completed trial; ties keep the order in
    which the networks were first trained.
    """
    scores: dict[str, list[float]] = {}
    for key, score in scored:
        scores.setdefault(key, []).append(score)
    ranked = sorted(scores.items(), key=lambda item: -statistics.fmean(item[1]))
    return [(key, statistics.fmean(s), len(s)) for key, s in ranked[:count]]


class ConfirmLeaders:
    """Oracle mixin (after ``TimeBudget``, which stops the search, in the method order): with a
    time budget and ``confirm`` > 0, the last trials repeat the leading networks."""

    confirm: int = 0

    def populate_space(self, trial_id):
        values = self._repeat_values()
        if values is not None:
            return {"status": RUNNING, "values": values}
        return super().populate_space(trial_id)

    def _repeat_values(self) -> dict | None:
        if not (self.confirm and getattr(self, "budget_s", 0)):
            return None
        completed = [
            t for t in self.trials.values() if t.status == COMPLETED and t.score is not None
        ]
        running = {network_key(t.hyperparameters.values) for t in self.ongoing_trials.values()}
        first_of: dict[str, object] = {}
        for t in completed:
            first_of.setdefault(network_key(t.hyperparameters.values), t)
        top = leaders(
            [(network_key(t.hyperparameters.values), t.score) for t in completed], self.confirm
        )
        missing = [key for key, _, n in top if n < 2 and key not in running]
        needed = len(missing) * self._trial_seconds(completed)
        if not missing or not math.isfinite(needed) or self.budget_left_s() > needed:
            return None
        trial = first_of[missing[0]]
        repeats = sum(
            network_key(t.hyperparameters.values) == missing[0] for t in self.trials.values()
        )
        return {**network_values(trial.hyperparameters.values), REPEAT_KEY: repeats}

    def _trial_seconds(self, completed: list) -> float:
        """The median wall seconds of a completed trial (over the workers running them)."""
        seconds = [t.metrics.get_last_value("seconds") for t in completed]
        seconds = [s for s in seconds if s is not None and math.isfinite(s)]
        if not seconds:
            return math.inf
        return statistics.median(seconds) / max(len(getattr(self, "tuner_ids", ())), 1)


def pick_rows(rows: list) -> list:
    """The completed trials of the picked network, first trial first (empty: none completed).

    ``rows`` are trial rows (``trial_id``, ``status``, ``values``, ``score``). With networks
    trained at least twice (a confirmed search), the pick is the one with the best mean score
    among them; otherwise the best single trial. Ties go to the network trained first.
    """
    done = [r for r in rows if r.status == COMPLETED and not math.isnan(r.score)]
    by_network: dict[str, list] = {}
    for r in done:
        by_network.setdefault(network_key(r.values), []).append(r)
    confirmed = {k: v for k, v in by_network.items() if len(v) >= 2}
    pool = confirmed or by_network
    if not pool:
        return []
    order = list(by_network)
    key = max(
        pool,
        key=lambda k: (
            statistics.fmean(r.score for r in pool[k]) if confirmed else pool[k][0].score,
            -order.index(k),
        ),
    )
    return pool[key]


def repeat_number(values: dict) -> int:
    """The trial's repeat number (0: the network's first trial)."""
    return int(values.get(REPEAT_KEY, 0) or 0)
