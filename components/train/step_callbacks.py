"""The callbacks of one train step run, assembled from the step's plan."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from components.train import callbacks, epoch_progress, val_ap
from components.training import budget
from components.training.model_wrapper import DetectorTrainer


def step_callbacks(
    plan,
    trainer: DetectorTrainer,
    checkpoint: tf.train.Checkpoint,
    state: callbacks.TrainState,
    extra: Sequence[keras.callbacks.Callback],
    gpus: bool,
    examples_dir: str,
    after_save: Callable[[], object] | None = None,
) -> list[keras.callbacks.Callback]:
    """The train step's callbacks, in order: EMA validation, val AP every
    ``train.val_ap_every`` epochs, TensorBoard, the time budget (on ``gpus`` its clock is wall
    time), closing the mosaic, the per-epoch checkpoint (history, best weights, early
    stopping; then ``after_save``, e.g. the sync of a URI working directory), a progress line
    per epoch; then ``extra``.

    ``plan`` is the trainer's ``_Plan`` (config, work_dir, budget_s, epochs, steps_per_epoch).
    """

    def export_weights(path: str) -> None:
        if trainer.ema is None:
            trainer.detector.save_weights(path)
            return
        trainer.ema.swap()
        try:
            trainer.detector.save_weights(path)
        finally:
            trainer.ema.swap()

    cbs: list[keras.callbacks.Callback] = []
    if trainer.ema is not None:
        cbs.append(callbacks.EmaEvaluation(trainer.ema))
    every = plan.config.train.val_ap_every
    if every:
        cbs.append(
            val_ap.ValidationAP(trainer.detector, plan.config, examples_dir, every, trainer.ema)
        )
    logs = os.path.join(plan.work_dir, callbacks.LOGS_DIR)
    cbs.append(keras.callbacks.TensorBoard(logs, write_graph=False, profile_batch=0))
    if plan.budget_s:
        clock, _ = budget.clock_for(gpus)
        cbs.append(
            budget.TrainingBudget(
                plan.budget_s,
                state,
                trainer.schedule,
                plan.steps_per_epoch,
                plan.epochs,
                clock=clock,
            )
        )
    if plan.config.augment.mosaic:
        cbs.append(
            callbacks.CloseMosaic(
                callbacks.mosaic_switch(plan.work_dir),
                plan.config.augment.close_mosaic_fraction,
                lambda: state.planned_epochs or plan.epochs,
            )
        )
    # A budgeted run's schedule ends with its budget: stopping on a noisy val loss before the
    # learning rate has decayed wastes the part of the run that helps most.
    patience = 0 if plan.budget_s else plan.config.train.early_stopping_patience
    cbs.append(
        callbacks.EpochCheckpoint(
            plan.work_dir, state, checkpoint, export_weights, patience, after_save=after_save
        )
    )
    cbs.append(epoch_progress.EpochProgress(lambda: state.planned_epochs or plan.epochs))
    cbs.extend(extra)
    return cbs
