"""The KerasTuner HyperModel of the search: sample a detector config, build, train and score it.

``build(hp)`` samples the search space (the NASNet-style cell, with the choices of block ``b``
inside a conditional scope that is active only when the cell has more than ``b`` blocks; cells
per stage; base width; BiFPN width and depth; head depth; input size; learning rate) into a
complete :class:`~components.detector.config.DetectorConfig` and returns the compiled training
model of the train step (targets and loss inside). ``fit(hp, model, ...)`` trains it with the
tuner's callbacks (so KerasTuner saves the trial checkpoint), then scores the detector on the
val split and returns the metrics dict the oracle records: ``score`` (the objective, possibly
latency-aware), ``AP``, ``AP50``, ``FLOPs``, ``params``, ``latency_ms`` and ``seconds``. The
latency is measured first, before training: a candidate over the search's latency limit is
refused untrained (``latency_limit.OverLatencyLimit``). That, a NaN/inf loss or an
out-of-memory error raises ``FailedTrialError``: the trial is recorded as failed and the
search goes on.
"""

from __future__ import annotations

import math
import time

import keras
import keras_tuner
from keras_tuner.errors import FailedTrialError

from components.detector import anchor_fit
from components.detector.config import DetectorConfig
from components.detector.config_load import get_preset
from components.search import latency_limit
from components.search.objective import coco_metrics, latency_reward
from components.search.space import SearchSpace
from components.search.tuners import SCORE

SEARCHED_NAME = "searched"
EAGER_MAX_STEPS = 8


def _sample_cell(
    hp: keras_tuner.HyperParameters, space: SearchSpace, count: str, prefix: str
) -> list[dict]:
    """Sample one NASNet cell: ``hp[count]`` blocks, each two inputs and two operations.

    Block ``b``'s inputs are among the cell's two inputs and the ``b`` earlier blocks; its
    choices are conditional on the block count (``<prefix><b>_input_a`` ... ``_op_b``).
    """
    max_blocks = space.num_blocks.high
    num_blocks = hp.Int(count, space.num_blocks.low, max_blocks)
    blocks = []
    for b in range(max_blocks):
        with hp.conditional_scope(count, list(range(b + 1, max_blocks + 1))):
            block = {
                "inputs": [
                    hp.Int(f"{prefix}{b}_input_a", 0, b + 1),
                    hp.Int(f"{prefix}{b}_input_b", 0, b + 1),
                ],
                "ops": [
                    hp.Choice(f"{prefix}{b}_op_a", list(space.operations)),
                    hp.Choice(f"{prefix}{b}_op_b", list(space.operations)),
                ],
            }
        if b < num_blocks:
            blocks.append(block)
    return blocks


def sample_config(
    hp: keras_tuner.HyperParameters, space: SearchSpace, num_classes: int, epochs: int
) -> DetectorConfig:
    """Sample (or read back) every searched dimension from ``hp``; return the detector config.

    As in NASNet, two cells are searched: the normal cell (``num_blocks``, ``block<b>_*``)
    and the reduction cell that starts each later stage with stride 2
    (``num_reduce_blocks``, ``reduce<b>_*``). The config starts from ``space.base_preset``
    with a cell backbone; ``num_classes`` and the trial's ``epochs`` and ``space.batch_size``
    complete it, so it is ready to train.
    """
    normal = _sample_cell(hp, space, "num_blocks", "block")
    reduction = _sample_cell(hp, space, "num_reduce_blocks", "reduce")
    width = hp.Choice("base_width", list(space.base_width))
    overrides = {
        "name": SEARCHED_NAME,
        "num_classes": num_classes,
        "image_size": hp.Choice("image_size", list(space.image_size)),
        "backbone.kind": "cells",
        "backbone.cells.stem_width": width,
        "backbone.cells.filters": width,
        "backbone.cells.cells_per_stage": hp.Int(
            "cells_per_stage", space.cells_per_stage.low, space.cells_per_stage.high
        ),
        "backbone.cells.normal_blocks": normal,
        "backbone.cells.reduction_blocks": reduction,
        "bifpn.width": hp.Choice("bifpn_width", list(space.bifpn_width)),
        "bifpn.depth": hp.Int("bifpn_depth", space.bifpn_depth.low, space.bifpn_depth.high),
        "head.depth": hp.Int("head_depth", space.head_depth.low, space.head_depth.high),
        "train.learning_rate": hp.Float(
            "learning_rate", space.learning_rate.low, space.learning_rate.high, sampling="log"
        ),
        "train.batch_size": space.batch_size,
        "train.epochs": epochs,
    }
    return get_preset(space.base_preset).with_overrides(overrides)


def config_from_values(
    values: dict, space: SearchSpace, num_classes: int, epochs: int
) -> DetectorConfig:
    """Return the config of a finished trial from its hyperparameter ``values``."""
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return sample_config(hp, space, num_classes, epochs)


def production_config(
    values: dict, space: SearchSpace, num_classes: int, epochs: int
) -> DetectorConfig:
    """The architecture of a finished trial with the production training recipe.

    The search chooses the architecture only: the trial's training settings (its few epochs,
    the space's small batch size and the sampled learning rate) are replaced by the ``train``
    section of the space's base preset, the recipe the train step applies (its parameters
    override epochs and batch size).
    """
    config = config_from_values(values, space, num_classes, epochs)
    return config.with_overrides({"train": get_preset(space.base_preset).train})


def count_flops(detector: keras.Model) -> float:
    """Return the multiply-adds of one forward pass of ``detector`` for one image."""
    from components.detector.flops import count_macs

    return float(count_macs(detector))


def _bad_loss(history: keras.callbacks.History) -> float | None:
    for name, values in history.history.items():
        if "loss" in name:
            for value in values:
                if not math.isfinite(float(value)):
                    return float(value)
    return None


class DetectorHyperModel(keras_tuner.HyperModel):
    """Samples, trains and scores detectors on one Examples artifact.

    ``train_count`` is the number of training images (for the schedule); ``train_images`` /
    ``eval_images`` cap the images a trial uses (None: all). ``latency_weight`` is the exponent
    of the latency-aware reward (0: the score is the COCO number itself) and ``reference_ms``
    its target, the base preset's measured latency; ``limit_ms`` the hard latency limit (None:
    none); ``serving_size`` the input size latencies are measured at (0: the trial's own).
    """

    def __init__(
        self,
        space: SearchSpace,
        examples_dir: str,
        num_classes: int,
        train_count: int,
        epochs: int,
        objective: str = "AP",
        latency_weight: float = 0.0,
        reference_ms: float | None = None,
        limit_ms: float | None = None,
        serving_size: int = 0,
        train_images: int | None = None,
        eval_images: int | None = None,
        seed: int = 0,
        verbose: int | str = 0,
    ) -> None:
        super().__init__(name="nasdet_detector", tunable=True)
        self.space = space
        self.examples_dir = examples_dir
        self.num_classes = num_classes
        self.train_count = min(train_count, train_images) if train_images else train_count
        self.epochs = epochs
        self.objective = objective
        self.latency_weight = latency_weight
        self.reference_ms = reference_ms
        self.limit_ms = limit_ms
        self.serving_size = serving_size
        self.train_images = train_images
        self.eval_images = eval_images
        self.seed = seed
        self.verbose = verbose
        self._train_boxes = None  # read once when the sampled configs fit their anchors
        self._fitted_scales: dict = {}

    @property
    def batch_size(self) -> int:
        """Images per training step (the space's batch size, at most the training images)."""
        return max(1, min(self.space.batch_size, self.train_count))

    def config(self, hp: keras_tuner.HyperParameters) -> DetectorConfig:
        """Return the detector config that ``hp`` describes (anchors fitted as training fits them)."""
        config = sample_config(hp, self.space, self.num_classes, self.epochs)
        if not config.anchors.fit:
            return config
        if self._train_boxes is None:
            from components.artifacts.examples import TRAIN_SPLIT
            from components.data.example_reader import read_boxes

            self._train_boxes = read_boxes(self.examples_dir, TRAIN_SPLIT)
        key = (config.image_size, tuple(config.levels), config.anchors)
        if key not in self._fitted_scales:
            boxes, heights, widths = self._train_boxes
            pixels = anchor_fit.input_frame_boxes(boxes, heights, widths, config.image_size)
            self._fitted_scales[key] = anchor_fit.fit_anchor_scale(config, pixels).anchor_scale
        return config.with_overrides({"anchors.anchor_scale": self._fitted_scales[key]})

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters) -> None:
        """Register every searched hyperparameter (conditional ones included) in ``hp``."""
        self.config(hp)

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Sample a config from ``hp`` and return the compiled training model of the train step.

        The model is called once on a zero image so Keras counts it as built (Hyperband loads
        a previous trial's checkpoint into it). Trials of at most EAGER_MAX_STEPS training
        steps run eagerly: for them, tracing the train step costs more than it saves.
        """
        import numpy as np

        from components.training.builder import build_trainer

        config = self.config(hp)
        steps = max(self.train_count // self.batch_size, 1)
        model = build_trainer(config, steps, self.epochs, self.batch_size)
        model(np.zeros((1, config.image_size, config.image_size, 3), np.float32))
        if steps * self.epochs <= EAGER_MAX_STEPS:
            model.run_eagerly = True
        return model

    def train_dataset(self, config: DetectorConfig):
        """Return the training ``tf.data.Dataset`` of a trial (augmented, batched, capped)."""
        from components.artifacts.examples import TRAIN_SPLIT
        from components.data import input_pipeline

        dataset = input_pipeline.make_dataset(
            self.examples_dir,
            TRAIN_SPLIT,
            config.image_size,
            self.batch_size,
            True,
            seed=self.seed,
            augment=config.augment,
        )
        if self.train_images:
            dataset = dataset.take(max(1, self.train_images // self.batch_size))
        return dataset

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, **kwargs) -> dict:
        """Train ``model`` with the tuner's ``callbacks`` and return the trial's metrics dict.

        ``epochs`` / ``initial_epoch`` in ``kwargs`` come from the tuner (Hyperband). The
        serving latency is measured first (``latency_limit.measure``, with its thread count):
        over ``limit_ms`` the trial raises ``OverLatencyLimit`` untrained. Raises
        ``FailedTrialError`` for a non-finite loss or when memory runs out.
        """
        import tensorflow as tf

        started = time.time()
        config = self.config(hp)
        latency = latency_limit.measure(config, self.serving_size, model.detector)
        cost = {
            "FLOPs": count_flops(model.detector),
            "params": float(model.detector.count_params()),
            "latency_ms": latency["median_ms"],
            "threads": float(latency["threads"]),
        }
        if self.limit_ms is not None and latency["median_ms"] > self.limit_ms:
            cost["seconds"] = time.time() - started
            raise latency_limit.OverLatencyLimit(latency["median_ms"], self.limit_ms, cost)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks.append(keras.callbacks.TerminateOnNaN())
        epochs = int(kwargs.pop("epochs", self.epochs))
        initial_epoch = int(kwargs.pop("initial_epoch", 0))
        try:
            history = model.fit(
                self.train_dataset(config),
                epochs=epochs,
                initial_epoch=initial_epoch,
                callbacks=callbacks,
                verbose=self.verbose,
            )
            bad = _bad_loss(history)
            if bad is not None:
                raise FailedTrialError(f"the training loss became {bad} (diverged)")
            metrics = coco_metrics(model.detector, config, self.examples_dir, self.eval_images)
        except tf.errors.ResourceExhaustedError as err:
            raise FailedTrialError(f"out of memory: {err.message.splitlines()[0]}") from err
        value = metrics[self.objective]
        reward = latency_reward(value, latency["median_ms"], self.reference_ms, self.latency_weight)
        return {
            SCORE: reward,
            "AP": metrics["AP"],
            "AP50": metrics["AP50"],
            **cost,
            "seconds": time.time() - started,
        }
