"""Run one tuner process of a search: build the hypermodel and the tuner from a spec, search.

Used in-process (``workers == 0``) and as the body of every chief and worker process of a
distributed search (:mod:`components.search.distributed`).
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from components.search.hypermodel import DetectorHyperModel
from components.search.space import get_space
from components.search.tuners import SearchSpec, make_tuner


def make_hypermodel(spec: SearchSpec, verbose: int | str = 0) -> DetectorHyperModel:
    """Return the hypermodel of ``spec`` (reads labels.json and counts the training images).

    Raises UserError when the Examples artifact is missing, has no labels or no train split.
    """
    from components.artifacts import examples
    from components.data import example_reader

    labels = examples.read_labels(spec.examples_dir)
    examples.require_split(spec.examples_dir, examples.VAL_SPLIT)  # Examples of the old layout
    example_reader.check_split(spec.examples_dir, examples.VAL_SPLIT)  # empty or damaged
    train_count = examples.count_records(spec.examples_dir, examples.TRAIN_SPLIT)
    if train_count == 0:
        example_reader.list_shards(spec.examples_dir, examples.TRAIN_SPLIT)  # raises UserError
    return DetectorHyperModel(
        get_space(spec.space),
        spec.examples_dir,
        num_classes=len(labels["classes"]),
        train_count=train_count,
        epochs=spec.epochs,
        objective=spec.objective,
        latency_weight=spec.latency_weight,
        reference_ms=spec.reference_ms,
        limit_ms=spec.limit_ms,
        serving_size=spec.serving_size,
        trial_budget_s=0.0 if spec.algorithm == "hyperband" else spec.trial_budget_s,
        train_images=spec.train_images,
        eval_images=spec.eval_images,
        seed=spec.seed,
        verbose=verbose,
    )


def _use_mixed_precision_on_gpus() -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")


def search_in_process(
    spec: SearchSpec,
    verbose: int | str = 0,
    after_trial: Callable[[], object] | None = None,
):
    """Build the hypermodel and tuner of ``spec`` and run ``tuner.search()``; return the tuner.

    ``after_trial`` is called after each trial of this process (``tuners.make_tuner``).

    In a distributed search the ``KERASTUNER_*`` environment makes this process the chief
    (serves the oracle; returns only when every worker asked for a trial after the last one)
    or a worker (runs trials until the oracle says stop).
    """
    keras.utils.set_random_seed(spec.seed)
    _use_mixed_precision_on_gpus()
    tuner = make_tuner(spec, make_hypermodel(spec, verbose), after_trial)
    tuner.search(verbose=verbose)
    return tuner
