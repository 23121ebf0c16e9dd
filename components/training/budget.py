"""Train for a time budget: the epochs and the learning-rate schedule fitted to it.

Like Ultralytics' ``time=``: after every epoch the time per epoch is measured, the number of
epochs that still fit is computed, the cosine schedule is stretched or shrunk to end there, and
training stops when the plan is reached. The clock is this process's CPU time on a CPU (all its
threads: the train step and the input pipeline), so that the budget means the same on a busy
shared machine as on an idle one; on GPUs it is wall time.

The seconds used and the plan are kept in the train state, so a resumed run goes on with what
is left of the budget.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable

import keras

from components.training.schedule import WarmupCosine


@dataclasses.dataclass
class BudgetState:
    """What a budget records: the seconds used and the plan (the train step's ``TrainState``
    has both fields and is passed instead, so a resumed run goes on with what is left)."""

    budget_used_s: float = 0.0
    planned_epochs: int | None = None


# The epoch cap of a budgeted run whose epochs were not given: the budget decides.
MAX_BUDGET_EPOCHS = 10_000


def cpu_seconds() -> float:
    """CPU seconds (user + system) used by this process so far, over all its threads."""
    return time.process_time()


def clock_for(gpus: bool) -> tuple[Callable[[], float], str]:
    """The budget's clock and its name: wall time on GPUs, this process's CPU time otherwise."""
    return (time.monotonic, "wall") if gpus else (cpu_seconds, "cpu")


class TrainingBudget(keras.callbacks.Callback):
    """Fit the run to ``budget_s`` seconds of ``clock``; stop when they are spent.

    ``schedule`` is the optimizer's :class:`WarmupCosine`; ``max_epochs`` caps the plan;
    ``state`` a :class:`BudgetState` or anything with its two fields. Writes
    ``state.budget_used_s`` and ``state.planned_epochs`` after every epoch (run this callback
    before the one that saves the state).
    """

    def __init__(
        self,
        budget_s: float,
        state: BudgetState,
        schedule: WarmupCosine,
        steps_per_epoch: int,
        max_epochs: int,
        clock: Callable[[], float] = cpu_seconds,
    ) -> None:
        super().__init__()
        self.budget_s = float(budget_s)
        self.state = state
        self.schedule = schedule
        self.steps_per_epoch = int(steps_per_epoch)
        self.max_epochs = int(max_epochs)
        self.clock = clock
        self.epoch_seconds: list[float] = []

    def on_train_begin(self, logs=None) -> None:  # noqa: D102 - Keras hook
        self._used_before = self.state.budget_used_s
        self._started = self.clock()
        if self.state.planned_epochs:  # resumed: keep the plan the last attempt made
            self.schedule.set_total_steps(self.state.planned_epochs * self.steps_per_epoch)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # noqa: D102 - Keras hook
        self._epoch_started = self.clock()

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: D102 - Keras hook
        now = self.clock()
        self.epoch_seconds.append(now - self._epoch_started)
        used = self._used_before + (now - self._started)
        done = epoch + 1
        planned = min(self.max_epochs, done + self.epochs_left(used))
        self.state.budget_used_s = round(used, 3)
        self.state.planned_epochs = planned
        self.schedule.set_total_steps(planned * self.steps_per_epoch)
        if done >= planned:
            self.model.stop_training = True

    def epochs_left(self, used: float) -> int:
        """Whole epochs that fit in what is left of the budget, at the measured epoch time.

        The first epoch of a process also traces the train and test steps, so it is left out
        of the estimate once a later epoch has been timed.
        """
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        per_epoch = max(statistics.median(timed), 1e-6)
        return max(0, math.floor((self.budget_s - used) / per_epoch))
