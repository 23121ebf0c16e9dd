"""The KFP lightweight components: one thin wrapper per step around its task body.

The bodies are shipped to the container as source (KFP lightweight components), so each one
imports what it needs inside the function and never refers to module globals. They import the
step only when they run: compiling the pipeline imports neither the steps nor TensorFlow.
``make_components(image)`` turns them into components whose base image is the nasdet image and
whose command installs nothing (``install_kfp_package=False``).

Each wrapper passes its parameters and its artifacts' paths to the step's function in
``pipelines.tasks`` (the conversions, the sample fallback, production and the checkpoints live
there, tested without KFP) and publishes the result: the key numbers as ``Metrics``, the
report as ``Markdown`` (evaluation also as ``HTML`` and its confusion matrix as
``ClassificationMetrics``; push: the model card; check-changes: the decision and its reason).
``check_changes`` (go on) and ``evaluate_model`` (blessed) return a plain ``bool`` so that
``dsl.If(task.outputs["Output"] == True)`` works on clusters and in kfp.local.

This module does not use ``from __future__ import annotations``: KFP reads the component
interfaces from the real annotation objects.
"""

import dataclasses

from kfp import dsl
from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
)


def ingest_examples(
    data_path: str,
    data_format: str,
    images_dir: str,
    classes_file: str,
    val_fraction: float,
    test_fraction: float,
    beam_args: str,
    examples: Output[Dataset],
    statistics: Output[Metrics],
    report: Output[Markdown],
):
    """Ingest labelled images (COCO, VOC, YOLO) into train/val/test tf.Example shards.

    Args:
        data_path: Annotations (COCO JSON or a VOC / YOLO folder); empty: the bundled sample.
        data_format: coco, voc or yolo.
        images_dir: Folder of the images; empty: next to the annotations.
        classes_file: YOLO class names file; empty: none.
        val_fraction: Fraction of images hashed into val (search and epoch selection).
        test_fraction: Fraction of images hashed into test (evaluation only).
        beam_args: Apache Beam options, space separated.
    """
    from pipelines import tasks

    result = tasks.ingest(
        data_path=data_path,
        data_format=data_format,
        images_dir=images_dir,
        classes_file=classes_file,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        beam_args=beam_args,
        output_dir=examples.path,
    )
    tasks.publish(result, examples, metrics=statistics, markdown=report)


def check_changes(
    examples: Input[Dataset],
    serving_root: str,
    model_name: str,
    force: bool,
    architecture: str,
    search_algorithm: str,
    search_max_trials: int,
    search_epochs: int,
    search_space: str,
    search_latency_weight: float,
    search_max_latency_ms: str,
    search_screen: int,
    search_proxy: str,
    search_trial_budget_s: float,
    search_budget_s: float,
    search_confirm: int,
    seed: int,
    train_epochs: int,
    train_budget_s: float,
    train_batch_size: int,
    warm_start: str,
    backbone_weights: str,
    image_size: int,
    min_ap: float,
    tolerance: float,
    class_tolerance: float,
    class_min_boxes: int,
    baseline_model: str,
    changes: Output[Artifact],
    report: Output[Markdown],
) -> bool:
    """Compare the Examples, the code and the model parameters with the production version's.

    Args:
        serving_root: Where pushed versions live (production: the newest).
        model_name: Model name under serving_root.
        force: Go on even when nothing changed.
        architecture: The pipeline parameter of the same name (and so on below: every
            parameter that shapes the model or its judgement, compared by value).

    Returns:
        True when the run goes on (something changed, nothing is pushed, or force); False
        stops it after ingest (the page says why).
    """
    from pipelines import tasks

    result = tasks.check_changes(
        examples_dir=examples.path,
        serving_root=serving_root,
        model_name=model_name,
        force=force,
        parameters={
            "architecture": architecture,
            "search_algorithm": search_algorithm,
            "search_max_trials": search_max_trials,
            "search_epochs": search_epochs,
            "search_space": search_space,
            "search_latency_weight": search_latency_weight,
            "search_max_latency_ms": search_max_latency_ms,
            "search_screen": search_screen,
            "search_proxy": search_proxy,
            "search_trial_budget_s": search_trial_budget_s,
            "search_budget_s": search_budget_s,
            "search_confirm": search_confirm,
            "seed": seed,
            "train_epochs": train_epochs,
            "train_budget_s": train_budget_s,
            "train_batch_size": train_batch_size,
            "warm_start": warm_start,
            "backbone_weights": backbone_weights,
            "image_size": image_size,
            "min_ap": min_ap,
            "tolerance": tolerance,
            "class_tolerance": class_tolerance,
            "class_min_boxes": class_min_boxes,
            "baseline_model": baseline_model,
        },
        output_dir=changes.path,
    )
    return bool(tasks.publish(result, changes, markdown=report))


def search_architecture(
    examples: Input[Dataset],
    reuse_architecture: str,
    algorithm: str,
    max_trials: int,
    epochs: int,
    workers: int,
    space: str,
    latency_weight: float,
    max_latency_ms: str,
    serving_size: int,
    screen: int,
    proxy: str,
    trial_budget_s: float,
    budget_s: float,
    confirm: int,
    seed: int,
    serving_root: str,
    model_name: str,
    checkpoint_root: str,
    run_id: str,
    architecture: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[Markdown],
):
    """Search a detector architecture with KerasTuner, or take the given one.

    Args:
        reuse_architecture: A preset name, architecture file or production to use instead of
            searching.
        algorithm: random, bayesian or hyperband.
        max_trials: Number of trials.
        epochs: Epochs per trial.
        workers: Parallel workers (0: in process).
        space: Search space name.
        latency_weight: Exponent of the reward on measured latency (0: AP alone).
        max_latency_ms: The latency limit: base (the space's base preset), ms, or 0 (none).
        serving_size: The input size latencies are measured at (0: each architecture's own).
        screen: Architectures screened by a training-free score first (0: none).
        proxy: The training-free score of the screening.
        trial_budget_s: CPU seconds of training per trial (0: epochs per trial).
        budget_s: Seconds the search may take; no trial starts after them (0: no budget).
        confirm: Leading networks trained again at the end of the budget (0: none).
        seed: Random seed.
        serving_root: Where pushed versions live (for production).
        model_name: Model name under serving_root.
        checkpoint_root: Where the tuner project is kept, under run_id/search (empty: next
            to the output).
        run_id: The run's id (a retried attempt finds its trials by it).
    """
    from pipelines import tasks

    result = tasks.search(
        examples_dir=examples.path,
        output_dir=architecture.path,
        reuse_architecture=reuse_architecture,
        algorithm=algorithm,
        max_trials=max_trials,
        epochs=epochs,
        workers=workers,
        space=space,
        latency_weight=latency_weight,
        max_latency_ms=max_latency_ms,
        serving_size=serving_size,
        screen=screen,
        proxy=proxy,
        trial_budget_s=trial_budget_s,
        budget_s=budget_s,
        confirm=confirm,
        seed=seed,
        serving_root=serving_root,
        model_name=model_name,
        checkpoint_root=checkpoint_root,
        run_id=run_id,
    )
    tasks.publish(result, architecture, metrics=metrics, markdown=report)


def train_model(
    examples: Input[Dataset],
    architecture: Input[Artifact],
    epochs: int,
    budget_s: float,
    batch_size: int,
    warm_start: str,
    backbone_weights: str,
    image_size: int,
    serving_root: str,
    model_name: str,
    checkpoint_root: str,
    run_id: str,
    model: Output[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
):
    """Train the architecture on the examples and export the SavedModel (the page: the curves).

    Args:
        epochs: Training epochs (0: the training recipe's default).
        budget_s: Training budget in CPU (GPU) seconds; 0: none.
        batch_size: Batch size (0: the training recipe's default).
        warm_start: Model directory or production to initialise from; empty: from scratch.
        backbone_weights: none, imagenet or a weights file; empty: the architecture's.
        image_size: Input resolution; 0: the architecture's.
        serving_root: Where pushed versions live (for production).
        model_name: Model name under serving_root.
        checkpoint_root: Where epoch checkpoints are kept, under run_id/train (empty: next to
            the output).
        run_id: The run's id (a retried attempt finds its checkpoints by it).
    """
    from pipelines import tasks

    result = tasks.train(
        examples_dir=examples.path,
        architecture_dir=architecture.path,
        output_dir=model.path,
        epochs=epochs,
        budget_s=budget_s,
        batch_size=batch_size,
        warm_start=warm_start,
        backbone_weights=backbone_weights,
        image_size=image_size,
        serving_root=serving_root,
        model_name=model_name,
        checkpoint_root=checkpoint_root,
        run_id=run_id,
    )
    tasks.publish(result, model, metrics=metrics, markdown=report)


def evaluate_model(
    model: Input[Model],
    examples: Input[Dataset],
    baseline_model: str,
    serving_root: str,
    model_name: str,
    min_ap: float,
    tolerance: float,
    class_tolerance: float,
    class_min_boxes: int,
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[Markdown],
    report_html: Output[HTML],
    confusion_matrix: Output[ClassificationMetrics],
) -> bool:
    """Evaluate the exported model with the COCO metrics and decide whether it is blessed.

    Args:
        baseline_model: Model to compare against; empty: the newest pushed version.
        serving_root: Where pushed versions live.
        model_name: Model name under serving_root.
        min_ap: Minimum AP to bless.
        tolerance: Allowed AP drop against the baseline.
        class_tolerance: Allowed AP drop of one class against the baseline.
        class_min_boxes: Eval boxes a class needs to be judged by class_tolerance.

    Returns:
        True when the model is blessed (then the push step runs).
    """
    from pipelines import tasks

    result = tasks.evaluate(
        model_dir=model.path,
        examples_dir=examples.path,
        output_dir=evaluation.path,
        baseline_model=baseline_model,
        serving_root=serving_root,
        model_name=model_name,
        min_ap=min_ap,
        tolerance=tolerance,
        class_tolerance=class_tolerance,
        class_min_boxes=class_min_boxes,
    )
    return bool(
        tasks.publish(
            result,
            evaluation,
            metrics=metrics,
            markdown=report,
            html=report_html,
            confusion=confusion_matrix,
        )
    )


def push_model(
    model: Input[Model],
    evaluation: Input[Artifact],
    changes: Input[Artifact],
    serving_root: str,
    model_name: str,
    keep_versions: int,
    export_formats: str,
    pushed_model: Output[Artifact],
    model_card: Output[Markdown],
):
    """Push the blessed model to serving_root/model_name/<next version>/ with its model card
    and what it was trained from (the check's digests, for the next run's comparison).

    Args:
        serving_root: The serving location.
        model_name: Model name under serving_root.
        keep_versions: Versions to keep (0: all).
        export_formats: Serving formats also written into the version, comma separated.
    """
    from pipelines import tasks

    result = tasks.push(
        model_dir=model.path,
        evaluation_dir=evaluation.path,
        changes_dir=changes.path,
        serving_root=serving_root,
        model_name=model_name,
        keep_versions=keep_versions,
        export_formats=export_formats,
        output_file=pushed_model.path,
    )
    tasks.publish(result, pushed_model, markdown=model_card)


@dataclasses.dataclass(frozen=True)
class Components:
    """The step components built for one image."""

    ingest: object
    changes: object
    search: object
    train: object
    evaluate: object
    push: object


def make_components(image: str) -> Components:
    """Build the six components with base image ``image`` and no package installation."""

    def make(func):
        return dsl.component(func, base_image=image, install_kfp_package=False)

    return Components(
        ingest=make(ingest_examples),
        changes=make(check_changes),
        search=make(search_architecture),
        train=make(train_model),
        evaluate=make(evaluate_model),
        push=make(push_model),
    )
