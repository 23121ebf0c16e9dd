"""The KerasTuner HyperModel of the search: sample a detector config, build, train and score it.

``build(hp)`` samples the search space (the NASNet-style cell, with the choices of block ``b``
inside a conditional scope that is active only when the cell has more than ``b`` blocks; cells
per stage; base width; BiFPN width and depth; head depth; the input size unless the serving
size fixes it) into a
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
from components.search.confirm import repeat_number
from components.search.objective import coco_metrics, latency_reward
from components.search.space import SearchSpace
from components.search.tuners import SCORE

SEARCHED_NAME = "searched"
EAGER_MAX_STEPS = 8
REPEAT_SEED_STRIDE = 1000  # a repeat's seed: the search's + this * its repeat number


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
    if num_blocks is None:  # the cell is in an inactive conditional scope: declare it only
        num_blocks = 0
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
    hp: keras_tuner.HyperParameters,
    space: SearchSpace,
    num_classes: int,
    epochs: int,
    image_size: int = 0,
) -> DetectorConfig:
    """Sample (or read back) every searched dimension from ``hp``; return the detector config.

    As in NASNet, two cells are searched: the reduction cell that starts each later stage with
    stride 2 (``num_reduce_blocks``, ``reduce<b>_*``) and the normal cell (``num_blocks``,
    ``block<b>_*``), the latter only where ``cells_per_stage`` > 0 uses it (a conditional
    scope; without normal cells the config carries the reduction cell's wiring, as ``tiny``).
    The config starts from ``space.base_preset`` with a cell backbone and keeps the preset's
    whole training recipe; ``num_classes`` and the trial's ``epochs`` complete it, so it is
    ready to train. ``image_size`` > 0 is the size
    the pick will be trained and served at: then the size is not searched (a trial trains at
    it); 0 searches it among ``space.image_size``.
    """
    cells_per_stage = hp.Int(
        "cells_per_stage", space.cells_per_stage.low, space.cells_per_stage.high
    )
    reduction = _sample_cell(hp, space, "num_reduce_blocks", "reduce")
    normal = reduction  # unused without normal cells (as in ``tiny``): not searched then
    with_normal = list(range(max(space.cells_per_stage.low, 1), space.cells_per_stage.high + 1))
    if with_normal:
        with hp.conditional_scope("cells_per_stage", with_normal):
            sampled = _sample_cell(hp, space, "num_blocks", "block")
        if cells_per_stage:
            normal = sampled
    width = hp.Choice("base_width", list(space.base_width))
    size = int(image_size) if image_size else hp.Choice("image_size", list(space.image_size))
    overrides = {
        "name": SEARCHED_NAME,
        "num_classes": num_classes,
        "image_size": size,
        "backbone.kind": "cells",
        "backbone.cells.stem_width": width,
        "backbone.cells.filters": width,
        "backbone.cells.cells_per_stage": cells_per_stage,
        "backbone.cells.normal_blocks": normal,
        "backbone.cells.reduction_blocks": reduction,
        "bifpn.width": hp.Choice("bifpn_width", list(space.bifpn_width)),
        "bifpn.depth": hp.Int("bifpn_depth", space.bifpn_depth.low, space.bifpn_depth.high),
        "head.depth": hp.Int("head_depth", space.head_depth.low, space.head_depth.high),
        "train.epochs": epochs,
    }
    return get_preset(space.base_preset).with_overrides(overrides)


def config_from_values(
    values: dict, space: SearchSpace, num_classes: int, epochs: int, image_size: int = 0
) -> DetectorConfig:
    """Return the config of a finished trial from its hyperparameter ``values``; ValueError
    when they are not a point of ``space`` (read back from elsewhere, they would otherwise
    build another network, e.g. without the normal cell they name)."""
    outside = _outside(values, space, image_size)
    if outside:
        declared, value = outside[0]
        raise ValueError(
            f"{declared.name} {value} is not a point of the {space.name} space "
            f"({_allowed(declared)})"
        )
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return sample_config(hp, space, num_classes, epochs, image_size)


def production_config(
    values: dict, space: SearchSpace, num_classes: int, epochs: int, image_size: int = 0
) -> DetectorConfig:
    """The architecture of a finished trial with the production training recipe: the trial's
    own (the base preset's ``train`` section), only its few epochs replaced by the preset's
    (the train step's parameters override epochs and batch size)."""
    config = config_from_values(values, space, num_classes, epochs, image_size)
    return config.with_overrides({"train": get_preset(space.base_preset).train})


def base_values(space: SearchSpace, image_size: int = 0) -> dict | None:
    """The hyperparameter values of the space's base preset (every active one), or None when
    the space cannot express it or the base preset's size is not among the searched sizes."""
    if space.base_point is None:
        return None
    point = dict(space.base_point)
    if image_size:
        point.pop("image_size", None)
    elif point.get("image_size") not in space.image_size:
        return None
    if not in_space(point, space, image_size):
        return None  # e.g. a narrowed space that leaves the preset out
    hp = keras_tuner.HyperParameters()
    hp.values.update(point)
    sample_config(hp, space, 1, 1, image_size)
    return {name: value for name, value in hp.values.items() if hp.is_active(name)}


def in_space(values: dict, space: SearchSpace, image_size: int = 0) -> bool:
    """Whether the architecture ``values`` is a point of ``space``: every value a hyperparameter
    active for it has is one the space declares (values it does not use are ignored)."""
    return not _outside(values, space, image_size)


def _outside(values: dict, space: SearchSpace, image_size: int) -> list:
    """The (declared hyperparameter, value) pairs of ``values`` that ``space`` cannot take."""
    declared = keras_tuner.HyperParameters()
    sample_config(declared, space, 1, 1, image_size)
    return [
        (hp_, values[hp_.name])
        for hp_ in declared.space
        if hp_.name in values
        and all(c.is_active(values) for c in hp_.conditions)
        and not _within(hp_, values[hp_.name])
    ]


def _allowed(declared) -> str:
    """What a KerasTuner Int or Choice can take, for a message."""
    if isinstance(declared, keras_tuner.engine.hyperparameters.Choice):
        return "one of " + ", ".join(str(v) for v in declared.values)
    return f"{declared.min_value}..{declared.max_value}"


def _within(declared, value) -> bool:
    """Whether ``value`` is one ``declared`` (a KerasTuner Int or Choice) can take."""
    if isinstance(declared, keras_tuner.engine.hyperparameters.Choice):
        return value in declared.values
    if isinstance(declared, keras_tuner.engine.hyperparameters.Int):
        return declared.min_value <= value <= declared.max_value
    return True


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
    none); ``serving_size`` the input size the pick will be trained and served at: trials
    train and are timed at it (0: the size is searched, each trial's own).
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
        trial_budget_s: float = 0.0,
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
        self.trial_budget_s = float(trial_budget_s or 0.0)
        self.train_images = train_images
        self.eval_images = eval_images
        self.seed = seed
        self.verbose = verbose
        self._train_boxes = None  # read once when the sampled configs fit their anchors
        self._fitted_scales: dict = {}
        self._reference = None  # the base preset's served function, built when first needed

    @property
    def batch_size(self) -> int:
        """Images per training step (the base preset's, at most the training images)."""
        recipe = get_preset(self.space.base_preset).train
        return max(1, min(recipe.batch_size, self.train_count))

    def config(self, hp: keras_tuner.HyperParameters) -> DetectorConfig:
        """Return the detector config that ``hp`` describes (anchors fitted as training fits them)."""
        config = sample_config(hp, self.space, self.num_classes, self.epochs, self.serving_size)
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

    def _budget(self, model: keras.Model, epochs: int) -> keras.callbacks.Callback:
        """The train step's CPU-seconds budget (``components.training.budget``) at the trial's
        size: the epochs (at most ``epochs``) and the schedule fitted to ``trial_budget_s``."""
        from components.training.budget import BudgetState, TrainingBudget

        steps = max(self.train_count // self.batch_size, 1)
        if self.train_images:
            steps = max(1, min(steps, self.train_images // self.batch_size))
        return TrainingBudget(self.trial_budget_s, BudgetState(), model.schedule, steps, epochs)

    def is_base(self, hp: keras_tuner.HyperParameters) -> bool:
        """Whether ``hp`` is the space's base preset (``base_values``)."""
        base = base_values(self.space, self.serving_size)
        active = {name: value for name, value in hp.values.items() if hp.is_active(name)}
        return base is not None and active == base

    def measure_latency(self, config: DetectorConfig, detector=None) -> dict:
        """The served latency of ``config`` at the serving size: timed beside the base preset
        (``latency_limit.PairedReference``) when its latency is known, else on its own."""
        if self.reference_ms is None:
            return latency_limit.measure(config, self.serving_size, detector)
        if self._reference is None:
            self._reference = latency_limit.PairedReference(
                self.space.base_preset, self.num_classes, self.serving_size, self.reference_ms
            )
        return self._reference.measure(config, detector)

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
        if repeat_number(hp.values):  # a repeat: its own initialisation as well
            keras.utils.set_random_seed(self.trial_seed(hp))
        steps = max(self.train_count // self.batch_size, 1)
        model = build_trainer(config, steps, self.epochs, self.batch_size)
        model(np.zeros((1, config.image_size, config.image_size, 3), np.float32))
        if steps * self.epochs <= EAGER_MAX_STEPS:
            model.run_eagerly = True
        return model

    def trial_seed(self, hp: keras_tuner.HyperParameters) -> int:
        """The seed of the trial's data order: the search's, another for each repeat of a
        network (``confirm.REPEAT_KEY``), so a repeat is a second sample of the network."""
        return self.seed + REPEAT_SEED_STRIDE * repeat_number(hp.values)

    def train_dataset(self, config: DetectorConfig, seed: int | None = None):
        """Return the training ``tf.data.Dataset`` of a trial (augmented, batched, capped),
        shuffled with ``seed`` (None: the search's)."""
        from components.artifacts.examples import TRAIN_SPLIT
        from components.data import input_pipeline

        dataset = input_pipeline.make_dataset(
            self.examples_dir,
            TRAIN_SPLIT,
            config.image_size,
            self.batch_size,
            True,
            seed=self.seed if seed is None else seed,
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
        latency = self.measure_latency(config)  # built afresh, as the reference and screening
        cost = {
            "FLOPs": count_flops(model.detector),
            "params": float(model.detector.count_params()),
            "latency_ms": latency["median_ms"],
            "threads": float(latency["threads"]),
        }
        over = self.limit_ms is not None and latency["median_ms"] > self.limit_ms
        if over and not self.is_base(hp):  # the base preset defines the limit: never over it
            cost["seconds"] = time.time() - started
            raise latency_limit.OverLatencyLimit(latency["median_ms"], self.limit_ms, cost)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks.append(keras.callbacks.TerminateOnNaN())
        epochs = int(kwargs.pop("epochs", self.epochs))
        initial_epoch = int(kwargs.pop("initial_epoch", 0))
        if self.trial_budget_s:
            callbacks.append(self._budget(model, epochs))
        try:
            history = model.fit(
                self.train_dataset(config, self.trial_seed(hp)),
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
