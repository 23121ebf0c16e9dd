"""The train step: build the detector, train it on the Examples, write the Model artifact.

``run`` trains on ``Split-train`` and validates on ``Split-val`` (``Split-test`` is never read:
it is evaluate's) with SGD momentum, a linear
warm-up then cosine learning rate (scaled by global batch / ``learning_rate_batch``), L2 weight
decay, global gradient-norm clipping and an optional EMA of the weights (the EMA weights are
validated and exported). With GPUs it trains under ``tf.distribute.MirroredStrategy`` and
``mixed_float16``; on the CPU in float32 with the default strategy. Every epoch is
checkpointed in a working directory (``<output>.work`` by default; a URI is staged in a local
copy and synced up after every epoch, ``components.local_copy``) and a run started again
with the same arguments resumes from the last finished epoch; the working directory is removed
once the Model artifact is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import os
import time
from collections.abc import Sequence

import keras
import tensorflow as tf

from components import files
from components.artifacts.examples import (
    TRAIN_SPLIT,
    VAL_SPLIT,
    count_records,
    files_digest,
    read_labels,
    refuse_old_layout,
)
from components.data import example_reader, input_pipeline
from components.detector import model as model_lib
from components.detector.anchor_fit import fit_to_examples
from components.detector.config import DetectorConfig
from components.detector.config_load import load_architecture
from components.errors import UserError
from components.local_copy import WorkDir, local_work_dir
from components.train import artifact, callbacks
from components.train import warm_start as warm_start_lib
from components.train.backbone_weights import with_backbone_weights
from components.train.bn_calibration import recalibrate_batch_norm
from components.train.cpu_threads import DEFAULT_CPU_THREADS, use_cpu_threads
from components.train.step_callbacks import step_callbacks
from components.training import budget
from components.training.builder import build_trainer
from components.training.model_wrapper import DetectorTrainer

log = logging.getLogger(__name__)


def training_devices() -> list[str]:
    """The devices training is mirrored over: this node's GPUs (none on a CPU-only node)."""
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def _strategy_and_precision(config: DetectorConfig) -> tuple[tf.distribute.Strategy, bool]:
    """``MirroredStrategy`` over ``training_devices()`` when there are several (one node, several
    GPUs; Keras 3 ``fit`` does not support ``MultiWorkerMirroredStrategy``), else the default
    strategy; and whether to train in mixed precision (``auto``: on GPUs)."""
    gpus = tf.config.list_physical_devices("GPU")
    mode = config.train.mixed_precision
    mixed = mode == "on" or (mode == "auto" and bool(gpus))
    devices = training_devices()
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices), mixed
    return tf.distribute.get_strategy(), mixed


def _fingerprint(
    config: DetectorConfig, examples_dir: str, epochs: int, batch: int, warm, budget_s
) -> dict:
    digest = hashlib.sha256(config.to_json().encode()).hexdigest()[:16]
    return {
        "config": digest,
        "examples": files_digest(examples_dir),
        "epochs": epochs,
        "batch_size": batch,
        "warm_start": files.absolute(warm) if warm else None,
        "budget_s": budget_s,
    }


@contextlib.contextmanager
def _precision_policy(mixed: bool):
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _float32_copy(detector: keras.Model, config: DetectorConfig) -> keras.Model:
    """Return a float32 single-device detector with the weights of ``detector``."""
    with _precision_policy(False):
        model = model_lib.build_detector(config)
    model.set_weights(detector.get_weights())
    return model


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What the prepare phase settles before anything is built: config, sizes, devices."""

    config: DetectorConfig
    export_config: DetectorConfig  # the model written in the artifact (no pretrained source)
    labels: dict
    epochs: int  # the cap of a budgeted run
    budget_s: float | None
    work_dir: str  # local: the working directory, or its local copy (work_home a URI)
    work_home: str
    n_train: int
    n_eval: int
    strategy: tf.distribute.Strategy
    mixed: bool
    batch: int  # per replica
    steps_per_epoch: int
    fingerprint: dict

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    @property
    def global_batch(self) -> int:
        return self.batch * self.replicas


def _prepare(
    examples_dir: str,
    architecture: str,
    epochs: int | None,
    budget_s: float | None,
    batch_size: int | None,
    warm_start: str | None,
    backbone_weights: str | None,
    image_size: int | None,
    work: WorkDir,
) -> _Plan:
    """Check the inputs and settle the config, the sizes and the devices (UserError if bad)."""
    if not os.path.isdir(examples_dir):
        raise UserError(f"--examples {examples_dir}: not a directory")
    config = load_architecture(architecture)
    labels = read_labels(examples_dir)
    refuse_old_layout(examples_dir)
    config = config.replace(num_classes=len(labels["classes"]))
    if image_size:
        config = config.replace(image_size=int(image_size))
    config, fit = fit_to_examples(config, examples_dir, TRAIN_SPLIT)
    if fit is not None:
        log.info("anchors: %s", fit.summary())
    config = with_backbone_weights(config, backbone_weights, work.local)
    if budget_s is not None and not (budget_s > 0 and math.isfinite(budget_s)):
        raise UserError(f"the training budget must be a positive number of seconds, got {budget_s}")
    epochs = int(epochs or (budget.MAX_BUDGET_EPOCHS if budget_s else config.train.epochs))
    if warm_start:
        warm_start_lib.check_model_artifact(warm_start, config)
    if batch_size is not None and batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    n_train = count_records(examples_dir, TRAIN_SPLIT)
    if n_train == 0:
        example_reader.list_shards(examples_dir, TRAIN_SPLIT)  # raises the UserError
        raise UserError(f"{examples_dir}: the train split is empty")
    strategy, mixed = _strategy_and_precision(config)
    replicas = strategy.num_replicas_in_sync
    batch = min(int(batch_size or config.train.batch_size), max(n_train // replicas, 1))
    return _Plan(
        config=config,
        # The model built for export and written in the artifact starts from nothing: its
        # weights are the trained ones.
        export_config=config.with_overrides({"backbone.weights": "none"}),
        labels=labels,
        epochs=epochs,
        budget_s=float(budget_s) if budget_s else None,
        work_dir=work.local,
        work_home=work.home,
        n_train=n_train,
        n_eval=count_records(examples_dir, VAL_SPLIT),
        strategy=strategy,
        mixed=mixed,
        batch=batch,
        steps_per_epoch=max(n_train // (batch * replicas), 1),
        fingerprint=_fingerprint(config, examples_dir, epochs, batch, warm_start, budget_s),
    )


def _datasets(plan: _Plan, examples_dir: str, seed: int | None):
    """The repeated, augmented train dataset and the validation dataset (None without eval)."""
    # Known sizes: Keras then never runs a step past the end of the data.
    size, batch = plan.config.image_size, plan.global_batch
    train_ds = input_pipeline.make_dataset(
        examples_dir,
        TRAIN_SPLIT,
        size,
        batch,
        True,
        seed=seed,
        augment=plan.config.augment,
        mosaic_switch=callbacks.mosaic_switch(plan.work_dir),
    ).repeat()
    if not plan.n_eval:
        return train_ds, None
    val_ds = input_pipeline.make_dataset(examples_dir, VAL_SPLIT, size, batch, False)
    return train_ds, val_ds.apply(
        tf.data.experimental.assert_cardinality(math.ceil(plan.n_eval / batch))
    )


def _restore(plan: _Plan, warm_start: str | None, jit_compile: bool | str):
    """Build the trainer; resume it from the working directory's checkpoint, or warm-start it.

    Returns ``(trainer, checkpoint, state)``. UserError when the working directory belongs to
    another run (other data, architecture or options).
    """
    state = callbacks.TrainState.load(plan.work_dir)
    if state is not None and state.fingerprint != plan.fingerprint:
        raise UserError(
            f"the working directory {plan.work_home} belongs to another training run "
            f"(different data, architecture or options); remove it or choose --checkpoint-dir"
        )
    os.makedirs(plan.work_dir, exist_ok=True)
    with _precision_policy(plan.mixed), plan.strategy.scope():
        # A budgeted run starts with the recipe's epochs; the budget re-fits them.
        first_plan = min(plan.epochs, plan.config.train.epochs) if plan.budget_s else plan.epochs
        trainer = build_trainer(
            plan.config, plan.steps_per_epoch, first_plan, plan.global_batch, jit_compile
        )
        # Flat lists of variables: tracking the Keras objects themselves misses some of them.
        checkpoint = tf.train.Checkpoint(
            weights=list(trainer.weights), optimizer=list(trainer.optimizer.variables)
        )
        if state is not None and state.checkpoint:
            checkpoint.restore(state.checkpoint).assert_consumed()
            log.info("resuming from %s (epoch %d)", state.checkpoint, state.epochs_done)
        else:
            if warm_start:
                _load_warm_start(trainer, plan.config, warm_start)
            monitor = "val_loss" if plan.n_eval else "loss"
            state = callbacks.TrainState(fingerprint=plan.fingerprint, monitor=monitor)
    return trainer, checkpoint, state


def _export(
    plan: _Plan, trainer: DetectorTrainer, examples_dir: str, output_dir: str, bn_batches: int
) -> tuple[dict, int]:
    """Take the best (or EMA) weights, re-estimate batch norm, write the Model artifact.

    Returns ``(paths, batches used for the batch-norm re-estimation)``.
    """
    best = os.path.join(plan.work_dir, callbacks.BEST_WEIGHTS_FILE)
    if os.path.exists(best):
        trainer.detector.load_weights(best)
    elif trainer.ema is not None:
        trainer.ema.copy_to_model()
    # Export (and re-estimate batch norm) on a plain float32 copy when the trained model is
    # mixed precision or mirrored over several devices.
    plain = not plan.mixed and plan.replicas == 1
    export_model = (
        trainer.detector if plain else _float32_copy(trainer.detector, plan.export_config)
    )
    calibration = input_pipeline.make_dataset(
        examples_dir, TRAIN_SPLIT, plan.config.image_size, plan.global_batch, False
    )
    calibration_batches = recalibrate_batch_norm(export_model, calibration, bn_batches)
    paths = artifact.write_model_artifact(
        output_dir, export_model, plan.export_config, plan.labels, plan.work_dir
    )
    return paths, calibration_batches


def run(
    examples_dir: str,
    architecture: str,
    output_dir: str,
    epochs: int | None = None,
    batch_size: int | None = None,
    warm_start: str | None = None,
    *,
    budget_s: float | None = None,
    backbone_weights: str | None = None,
    image_size: int | None = None,
    work_dir: str | None = None,
    jit_compile: bool | str = "auto",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    seed: int | None = 0,
    bn_batches: int = 50,
    verbose: str | int = "auto",
    cpu_threads: int | None = DEFAULT_CPU_THREADS,
) -> dict:
    """Train a detector on ``examples_dir`` and write the Model artifact to ``output_dir``.

    The phases: prepare (inputs, config, sizes, devices), data, restore (resume or warm
    start), callbacks, fit, export (best weights, batch-norm re-estimation, the artifact).

    Args:
        examples_dir: an Examples artifact; ``num_classes`` comes from its ``labels.json``.
        architecture: an ``architecture.json`` path (or a folder holding one) or a preset name.
        output_dir: where the Model artifact is written.
        epochs: epochs to train (default: the config's ``train.epochs``; with a budget, the
            cap of the plan, none by default).
        budget_s: train for this many seconds of this process's CPU time (wall time on GPUs):
            the epochs and the cosine schedule are fitted to it after every epoch
            (``components.training.budget``). None: ``epochs`` decide.
        batch_size: the batch per replica (default: the config's ``train.batch_size``).
        warm_start: a Model artifact of the same architecture whose weights start the training.
        backbone_weights: ``none``, ``imagenet``, or a path / URI of a Keras weights file;
            overrides the architecture's (the artifact records ``backbone.weights: none``: its
            own weights are in it).
        image_size: overrides the architecture's input size.
        work_dir: keeps the checkpoints (default ``<output_dir>.work``; a path or a URI): a
            run started again after a crash resumes there; removed once the artifact is
            complete.
        jit_compile: passed to ``Model.compile`` ("auto": XLA on GPUs only).
        extra_callbacks: Keras callbacks run after the step's own.
        seed: the shuffling and augmentation seed.
        bn_batches: batches of the (unaugmented) train split used to re-estimate the batch-norm
            statistics of the final weights.
        verbose: passed to ``Model.fit``.
        cpu_threads: TensorFlow's intra- and inter-op threads when training on the CPU
            (``components.train.cpu_threads``; None / 0: one per core).

    Returns:
        A summary dict: ``epochs_run``, ``initial_epoch`` (> 0 after a resume),
        ``stopped_early``, ``budget_s`` / ``budget_used_s`` (seconds of the budget's clock),
        ``fit_cpu_seconds`` (CPU seconds of this process's fit), ``monitor`` / ``best`` / ``best_epoch``, ``final_loss``,
        ``final_val_loss``, sizes, ``seconds`` and ``paths``.

    Raises:
        UserError: bad input (examples, architecture, warm start, options, a working directory
            of another run).
    """
    started = time.time()
    threads = use_cpu_threads(cpu_threads)  # before the first TensorFlow operation
    home = work_dir or f"{os.path.abspath(output_dir).rstrip('/')}.work"
    with local_work_dir(home, last=(callbacks.STATE_FILE,)) as work:
        plan = _prepare(
            examples_dir,
            architecture,
            epochs,
            budget_s,
            batch_size,
            warm_start,
            backbone_weights,
            image_size,
            work,
        )
        train_ds, val_ds = _datasets(plan, examples_dir, seed)
        trainer, checkpoint, state = _restore(plan, warm_start, jit_compile)
        initial_epoch = state.epochs_done
        target = state.planned_epochs or plan.epochs
        fit_started = budget.cpu_seconds()
        if initial_epoch < target and not state.stopped_early:
            trainer.fit(
                train_ds,
                validation_data=val_ds,
                epochs=plan.epochs,
                steps_per_epoch=plan.steps_per_epoch,
                initial_epoch=initial_epoch,
                shuffle=False,  # the input pipeline shuffles
                callbacks=step_callbacks(
                    plan,
                    trainer,
                    checkpoint,
                    state,
                    extra_callbacks,
                    gpus=bool(training_devices()),
                    examples_dir=examples_dir,
                    after_save=work.sync,
                ),
                verbose=verbose,
            )
        fit_cpu_s = budget.cpu_seconds() - fit_started
        paths, calibration_batches = _export(plan, trainer, examples_dir, output_dir, bn_batches)
        work.remove()
    last = state.history[-1] if state.history else {}
    return {
        "output_dir": os.path.abspath(output_dir),
        "epochs_run": state.epochs_done,
        "initial_epoch": initial_epoch,
        "stopped_early": state.stopped_early,
        "budget_s": plan.budget_s,
        "budget_used_s": state.budget_used_s if plan.budget_s else None,
        "fit_cpu_seconds": round(fit_cpu_s, 1),
        "best_epoch": state.best_epoch,
        "monitor": state.monitor,
        "best": state.best,
        "final_loss": last.get("loss"),
        "final_val_loss": last.get("val_loss"),
        "train_images": plan.n_train,
        "eval_images": plan.n_eval,
        "batch_size": plan.batch,
        "replicas": plan.replicas,
        "cpu_threads": threads or 0,  # 0: TensorFlow's default (one per core), or a GPU
        "mixed_precision": plan.mixed,
        "steps_per_epoch": plan.steps_per_epoch,
        "bn_calibration_batches": calibration_batches,
        "image_size": plan.config.image_size,
        "backbone_weights": backbone_weights or plan.config.backbone.weights,
        "warm_start": warm_start,
        "seconds": round(time.time() - started, 1),
        "paths": paths,
    }


def _load_warm_start(trainer: DetectorTrainer, config: DetectorConfig, model_dir: str) -> None:
    """Load ``model_dir``'s weights into ``trainer.detector`` and restart the EMA from them."""
    warm_start_lib.load_warm_start(trainer.detector, config, model_dir)
    if trainer.ema is not None:
        trainer.ema.reset()
