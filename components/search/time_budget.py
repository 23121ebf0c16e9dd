"""The search's time budget: no trial starts once the search has run ``budget_s`` seconds.

A user schedules "search for 30 minutes", not "search 47 trials": how many trials fit depends on
the data, the machine and how fast the candidates train. The oracle holds the clock (in a
distributed search, the chief's): the screening's seconds (recorded in its summary) plus the
seconds since the oracle was made; for a resumed search, the total the earlier runs saved in
``oracle.json`` (screening included, up to their last save: the start or end of a trial) plus
the seconds since. So a retried pod continues the budget instead of starting it again.

What the budget does not stop: a trial that has started runs to its end (its own budget bounds
it); a trial a kill interrupted is run again on resume, as KerasTuner retries it before asking
for a new one; and the first trial always runs, however long the screening took (where the
space holds the base preset that is the reference every pick is weighed against, so a spent
budget still ends with a trained network to pick). ``max_trials`` still caps the trials.
"""

from __future__ import annotations

import math
import time

STATE_KEY = "nasdet_spent_s"  # in oracle.json, beside KerasTuner's keys
STOPPED = "STOPPED"  # keras_tuner TrialStatus: the tuner asking for a trial stops


class TimeBudget:
    """Oracle mixin: proposes no new trial once ``budget_s`` seconds are spent (0: no budget).

    ``spent_before_s`` is what was spent before this oracle was made (the screening); a resumed
    search replaces it with the total its oracle file recorded, which includes the screening.
    """

    budget_s: float = 0.0
    spent_before_s: float = 0.0
    _clock: float | None = None

    def start_clock(self, budget_s: float, spent_before_s: float = 0.0) -> None:
        """Set the budget and start counting (call before the oracle is reloaded)."""
        self.budget_s = float(budget_s)
        self.spent_before_s = float(spent_before_s)
        self._clock = time.monotonic()

    def spent_s(self) -> float:
        """Seconds the search has spent: before this oracle, and since it was made."""
        since = 0.0 if self._clock is None else time.monotonic() - self._clock
        return self.spent_before_s + since

    def budget_left_s(self) -> float:
        """Seconds left of the budget (inf without one; never below 0)."""
        if not self.budget_s:
            return math.inf
        return max(self.budget_s - self.spent_s(), 0.0)

    def populate_space(self, trial_id):
        if self.trials and self.budget_left_s() <= 0:
            return {"status": STOPPED, "values": None}
        return super().populate_space(trial_id)

    def get_state(self):
        return {**super().get_state(), STATE_KEY: self.spent_s()}

    def set_state(self, state):
        super().set_state(state)
        if STATE_KEY in state:  # a resumed search: the earlier runs' total, screening included
            self.spent_before_s = float(state[STATE_KEY])
            self._clock = time.monotonic()
