"""The train step: build the detector, train it on the Examples, write the Model artifact.

``run`` trains on ``Split-train`` and validates on ``Split-eval`` with SGD momentum, a linear
warm-up then cosine learning rate (scaled by global batch / ``learning_rate_batch``), L2 weight
decay, global gradient-norm clipping and an optional EMA of the weights (the EMA weights are
validated and exported). With GPUs it trains under ``tf.distribute.MirroredStrategy`` and
``mixed_float16``; on the CPU in float32 with the default strategy. Every epoch is
checkpointed in a working directory (``<output>.work`` by default) and a run started again
with the same arguments resumes from the last finished epoch; the working directory is removed
once the Model artifact is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence

import keras
import tensorflow as tf

from components.data import example_reader, input_pipeline, schema
from components.data import labels as labels_lib
from components.detector import anchors as anchors_lib
from components.detector import model as model_lib
from components.detector.config import DetectorConfig, load_architecture
from components.errors import UserError
from components.train import artifact, callbacks
from components.train import warm_start as warm_start_lib
from components.train.backbone_weights import with_backbone_weights
from components.train.bn_calibration import recalibrate_batch_norm
from components.train.model_wrapper import DetectorTrainer
from components.train.schedule import WarmupCosine

log = logging.getLogger(__name__)


def count_records(examples_dir: str, split: str) -> int:
    """Return the number of tf.Examples in ``split`` (0 when the split has no shards)."""
    try:
        shards = example_reader.list_shards(examples_dir, split)
    except UserError:
        return 0
    return int(example_reader.read_records(shards).reduce(0, lambda n, _: n + 1).numpy())


def read_labels(examples_dir: str) -> dict:
    """Return the validated ``labels.json`` dict of ``examples_dir``; UserError if missing/bad."""
    path = os.path.join(examples_dir, schema.LABELS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path} not found (is {examples_dir} an Examples artifact?)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from None
    if labels_lib.from_labels_json(data).num_classes < 1:
        raise UserError(f"{path} lists no classes")
    return data


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


def _examples_digest(examples_dir: str) -> str:
    """A digest of the examples' files (relative names and sizes, and ``labels.json``).

    Not their path: a retried pod gets its input as a copy, possibly at another path.
    """
    h = hashlib.sha256()
    for root, dirs, files in os.walk(examples_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, examples_dir)
            h.update(f"{rel}\0{os.path.getsize(path)}\0".encode())
            if name == "labels.json":
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()[:16]


def _fingerprint(config: DetectorConfig, examples_dir: str, epochs: int, batch: int, warm) -> dict:
    digest = hashlib.sha256(config.to_json().encode()).hexdigest()[:16]
    return {
        "config": digest,
        "examples": _examples_digest(examples_dir),
        "epochs": epochs,
        "batch_size": batch,
        "warm_start": os.path.abspath(warm) if warm else None,
    }


@contextlib.contextmanager
def _precision_policy(mixed: bool):
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_trainer(
    config: DetectorConfig,
    steps_per_epoch: int,
    epochs: int,
    global_batch: int,
    jit_compile: bool | str = "auto",
) -> DetectorTrainer:
    """Build and compile the training model for ``config`` (inside the current strategy scope).

    The optimizer is SGD with momentum, the warm-up + cosine schedule over ``epochs *
    steps_per_epoch`` steps at the learning rate scaled for ``global_batch`` and global-norm
    clipping; the trainer adds weight decay and the EMA. Its variables (optimizer slots
    included) are created here, so a checkpoint can be restored right away.
    """
    train = config.train
    detector = model_lib.build_detector(config)
    trainer = DetectorTrainer(
        detector,
        config,
        anchors_lib.generate_anchors(config),
        ema_decay=train.ema_decay,
        weight_decay=train.weight_decay,
    )
    schedule = WarmupCosine(
        base_lr=train.scaled_learning_rate(global_batch),
        total_steps=max(epochs * steps_per_epoch, 1),
        warmup_steps=int(round(train.warmup_epochs * steps_per_epoch)),
        warmup_init=0.1 * train.scaled_learning_rate(global_batch),
    )
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule,
        momentum=train.momentum,
        global_clipnorm=train.clip_norm if train.clip_norm > 0 else None,
    )
    trainer.compile(optimizer=optimizer, jit_compile=jit_compile)
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def _float32_copy(detector: keras.Model, config: DetectorConfig) -> keras.Model:
    """Return a float32 single-device detector with the weights of ``detector``."""
    with _precision_policy(False):
        model = model_lib.build_detector(config)
    model.set_weights(detector.get_weights())
    return model


def run(
    examples_dir: str,
    architecture: str,
    output_dir: str,
    epochs: int | None = None,
    batch_size: int | None = None,
    warm_start: str | None = None,
    *,
    backbone_weights: str | None = None,
    image_size: int | None = None,
    work_dir: str | None = None,
    jit_compile: bool | str = "auto",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    seed: int | None = 0,
    bn_batches: int = 50,
    verbose: str | int = "auto",
) -> dict:
    """Train a detector on ``examples_dir`` and write the Model artifact to ``output_dir``.

    ``architecture`` is an ``architecture.json`` path or a preset name; ``num_classes`` comes
    from ``<examples_dir>/labels.json``. ``epochs`` / ``batch_size`` default to the config's
    ``train`` values (``batch_size`` is per replica). ``warm_start`` is a Model artifact of the
    same architecture whose weights start the training. ``backbone_weights`` (``none``,
    ``imagenet``, or a path / URI of a Keras weights file) and ``image_size`` override the
    architecture's (the Model artifact records ``backbone.weights: none``: its own weights are
    in it). ``work_dir`` (default
    ``<output_dir>.work``) keeps checkpoints: a run started again after a crash resumes there.
    After training the batch-norm statistics are re-estimated for the final weights on up to
    ``bn_batches`` batches of the (unaugmented) train split. ``jit_compile`` is passed to
    ``Model.compile`` ("auto": XLA on GPUs only).
    ``extra_callbacks````
    run after the step's own callbacks. Returns a summary dict: ``epochs_run``,
    ``initial_epoch`` (> 0 after a resume), ``stopped_early``, ``monitor`` / ``best`` /
    ``best_epoch``, ``final_loss``, ``final_val_loss``, sizes, ``seconds`` and ``paths``.
    Raises UserError on bad input.
    """
    started = time.time()
    if not os.path.isdir(examples_dir):
        raise UserError(f"--examples {examples_dir}: not a directory")
    config = load_architecture(architecture)
    labels = read_labels(examples_dir)
    config = config.replace(num_classes=len(labels["classes"]))
    if image_size:
        config = config.replace(image_size=int(image_size))
    work_dir = work_dir or f"{os.path.abspath(output_dir).rstrip('/')}.work"
    config = with_backbone_weights(config, backbone_weights, work_dir)
    # The model built for export and written in the artifact starts from nothing: its weights
    # are the trained ones.
    export_config = config.with_overrides({"backbone.weights": "none"})
    epochs = int(epochs or config.train.epochs)
    if warm_start:
        warm_start_lib.check_model_artifact(warm_start, config)
    if batch_size is not None and batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    n_train = count_records(examples_dir, schema.TRAIN_SPLIT)
    if n_train == 0:
        example_reader.list_shards(examples_dir, schema.TRAIN_SPLIT)  # raises the UserError
        raise UserError(f"{examples_dir}: the train split is empty")
    n_eval = count_records(examples_dir, schema.EVAL_SPLIT)
    strategy, mixed = _strategy_and_precision(config)
    replicas = strategy.num_replicas_in_sync
    batch = min(int(batch_size or config.train.batch_size), max(n_train // replicas, 1))
    global_batch = batch * replicas
    steps_per_epoch = max(n_train // global_batch, 1)
    fingerprint = _fingerprint(config, examples_dir, epochs, batch, warm_start)
    state = callbacks.TrainState.load(work_dir)
    if state is not None and state.fingerprint != fingerprint:
        raise UserError(
            f"the working directory {work_dir} belongs to another training run "
            f"(different data, architecture or options); remove it or choose --checkpoint-dir"
        )
    os.makedirs(work_dir, exist_ok=True)

    # Known sizes: Keras then never runs a step past the end of the data.
    train_ds = input_pipeline.make_dataset(
        examples_dir, schema.TRAIN_SPLIT, config.image_size, global_batch, True, seed=seed
    ).repeat()
    val_ds = None
    if n_eval:
        val_ds = input_pipeline.make_dataset(
            examples_dir, schema.EVAL_SPLIT, config.image_size, global_batch, False
        ).apply(tf.data.experimental.assert_cardinality(math.ceil(n_eval / global_batch)))
    with _precision_policy(mixed), strategy.scope():
        trainer = build_trainer(config, steps_per_epoch, epochs, global_batch, jit_compile)
        # Flat lists of variables: tracking the Keras objects themselves misses some of them.
        checkpoint = tf.train.Checkpoint(
            weights=list(trainer.weights), optimizer=list(trainer.optimizer.variables)
        )
        if state is not None and state.checkpoint:
            checkpoint.restore(state.checkpoint).assert_consumed()
            log.info("resuming from %s (epoch %d)", state.checkpoint, state.epochs_done)
        else:
            if warm_start:
                _load_warm_start(trainer, config, warm_start)
            state = callbacks.TrainState(
                fingerprint=fingerprint, monitor="val_loss" if n_eval else "loss"
            )
    initial_epoch = state.epochs_done

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
    cbs.append(
        keras.callbacks.TensorBoard(
            os.path.join(work_dir, callbacks.LOGS_DIR), write_graph=False, profile_batch=0
        )
    )
    cbs.append(
        callbacks.EpochCheckpoint(
            work_dir, state, checkpoint, export_weights, config.train.early_stopping_patience
        )
    )
    cbs.extend(extra_callbacks)
    if initial_epoch < epochs and not state.stopped_early:
        trainer.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=initial_epoch,
            shuffle=False,  # the input pipeline shuffles
            callbacks=cbs,
            verbose=verbose,
        )
    best = os.path.join(work_dir, callbacks.BEST_WEIGHTS_FILE)
    if os.path.exists(best):
        trainer.detector.load_weights(best)
    elif trainer.ema is not None:
        trainer.ema.copy_to_model()
    # Export (and re-estimate batch norm) on a plain float32 copy when the trained model is
    # mixed precision or mirrored over several devices.
    plain = not mixed and replicas == 1
    export_model = trainer.detector if plain else _float32_copy(trainer.detector, export_config)
    calibration = input_pipeline.make_dataset(
        examples_dir, schema.TRAIN_SPLIT, config.image_size, global_batch, False
    )
    calibration_batches = recalibrate_batch_norm(export_model, calibration, bn_batches)
    paths = artifact.write_model_artifact(output_dir, export_model, export_config, labels, work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    last = state.history[-1] if state.history else {}
    return {
        "output_dir": os.path.abspath(output_dir),
        "epochs_run": state.epochs_done,
        "initial_epoch": initial_epoch,
        "stopped_early": state.stopped_early,
        "best_epoch": state.best_epoch,
        "monitor": state.monitor,
        "best": state.best,
        "final_loss": last.get("loss"),
        "final_val_loss": last.get("val_loss"),
        "train_images": n_train,
        "eval_images": n_eval,
        "batch_size": batch,
        "replicas": replicas,
        "mixed_precision": mixed,
        "steps_per_epoch": steps_per_epoch,
        "bn_calibration_batches": calibration_batches,
        "image_size": config.image_size,
        "backbone_weights": backbone_weights or config.backbone.weights,
        "warm_start": warm_start,
        "seconds": round(time.time() - started, 1),
        "paths": paths,
    }


def _load_warm_start(trainer: DetectorTrainer, config: DetectorConfig, model_dir: str) -> None:
    """Load ``model_dir``'s weights into ``trainer.detector`` and restart the EMA from them."""
    warm_start_lib.load_warm_start(trainer.detector, config, model_dir)
    if trainer.ema is not None:
        trainer.ema.reset()
