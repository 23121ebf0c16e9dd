"""KerasTuner's state files, written so that a kill never leaves half of one.

KerasTuner writes ``oracle.json``, each ``trial_*/trial.json`` and ``tuner0.json`` by truncating
the file and then writing it. A search killed in between (a preempted pod, a retried attempt, a
stopped chief) leaves an empty file, and the resumed search then fails reading it. These mixins
write the same JSON through :func:`components.files.write_atomically`: a reader sees the old
state or the new one. The content and the file names stay KerasTuner's.
"""

from __future__ import annotations

import json
import os

from components.files import write_atomically

TRIAL_FILE = "trial.json"  # KerasTuner's name, in the trial's own folder
RUNNING = "RUNNING"  # keras_tuner TrialStatus


class AtomicOracleFiles:
    """Oracle mixin: ``oracle.json`` and every ``trial.json`` written atomically, and a trial
    whose start only its own file recorded run again on resume.

    KerasTuner starts a trial by writing its ``trial.json`` (status RUNNING) and then
    ``oracle.json`` (the trial as ongoing). A kill between the two leaves a trial the oracle
    never knew was running: KerasTuner reruns the ongoing trials of a resumed search, but this
    one would stay RUNNING for ever, never trained, counted against ``max_trials``.
    """

    def reload(self):
        super().reload()
        waiting = set(self._retry_queue)  # KerasTuner's: the trials oracle.json had ongoing
        for trial_id in sorted(self.trials):
            if self.trials[trial_id].status == RUNNING and trial_id not in waiting:
                self._retry_queue.append(trial_id)
                if trial_id not in self.start_order:
                    self.start_order.append(trial_id)

    def save(self):
        write_atomically(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), TRIAL_FILE)
        write_atomically(path, json.dumps(trial.get_state()))


class AtomicTunerFiles:
    """Tuner mixin: the tuner's own state file written atomically (the oracle's by its own)."""

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_atomically(self._get_tuner_fname(), json.dumps(self.get_state()))
