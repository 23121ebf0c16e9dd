"""The one pipeline factory: the DAG used by the local runner and by the compiler alike.

ingest -> check-changes -> search (or take the given architecture) -> train -> evaluate -> push.
Everything after check-changes runs only when it returns True (something changed since the
production version, nothing is pushed yet, or ``force``), and push only when evaluate returns
True (nested ``dsl.If`` on the components' plain ``bool`` outputs). The
pipeline's parameters, defaults and descriptions come from ``pipelines.parameters``; the image,
resources and placement of each task from the cluster profile.

This module does not use ``from __future__ import annotations``: KFP reads the pipeline
parameters from the real annotation objects.
"""

from kfp import dsl

from pipelines import parameter_docs, parameters
from pipelines.kfp_steps import make_components
from pipelines.profile import Profile, check_path_volumes
from pipelines.profile_tasks import apply_to_task

PIPELINE_NAME = "nasdet"
PIPELINE_DESCRIPTION = (
    "Keeps an object detector in production: ingest labelled images, search a detector "
    "architecture (NAS with KerasTuner), train it, evaluate it with the COCO metrics, and push "
    "it to the serving location only when it is good enough."
)

# Display names of the tasks in the KFP UI and in kfp.local's logs, by profile step name.
TASK_NAMES = {
    "ingest": "ingest-examples",
    "changes": "check-changes",
    "search": "search-architecture",
    "train": "train-model",
    "evaluate": "evaluate-model",
    "push": "push-model",
}

D = parameters.DEFAULTS

# The path parameters whose steps must see them on a volume (checked against the profile).
PATH_USERS = {
    "serving_root": ("changes", "search", "train", "evaluate", "push"),
    "checkpoint_root": ("search", "train"),
}


def make_pipeline(profile: Profile):
    """Return the nasdet pipeline (a KFP ``GraphComponent``) for ``profile``.

    Calling the result runs it (under ``kfp.local.init``); ``kfp.compiler.Compiler`` compiles it.
    """
    check_path_volumes(profile, {name: (D[name], steps) for name, steps in PATH_USERS.items()})
    ops = make_components(profile.image)

    def nasdet(
        data_path: str = D["data_path"],
        data_format: str = D["data_format"],
        images_dir: str = D["images_dir"],
        classes_file: str = D["classes_file"],
        val_fraction: float = D["val_fraction"],
        test_fraction: float = D["test_fraction"],
        beam_args: str = D["beam_args"],
        architecture: str = D["architecture"],
        search_algorithm: str = D["search_algorithm"],
        search_max_trials: int = D["search_max_trials"],
        search_epochs: int = D["search_epochs"],
        search_workers: int = D["search_workers"],
        search_space: str = D["search_space"],
        search_latency_weight: float = D["search_latency_weight"],
        search_max_latency_ms: str = D["search_max_latency_ms"],
        search_screen: int = D["search_screen"],
        search_proxy: str = D["search_proxy"],
        search_trial_budget_s: float = D["search_trial_budget_s"],
        search_budget_s: float = D["search_budget_s"],
        search_confirm: int = D["search_confirm"],
        seed: int = D["seed"],
        train_epochs: int = D["train_epochs"],
        train_budget_s: float = D["train_budget_s"],
        train_batch_size: int = D["train_batch_size"],
        warm_start: str = D["warm_start"],
        backbone_weights: str = D["backbone_weights"],
        image_size: int = D["image_size"],
        min_ap: float = D["min_ap"],
        tolerance: float = D["tolerance"],
        class_tolerance: float = D["class_tolerance"],
        class_min_boxes: int = D["class_min_boxes"],
        baseline_model: str = D["baseline_model"],
        serving_root: str = D["serving_root"],
        model_name: str = D["model_name"],
        checkpoint_root: str = D["checkpoint_root"],
        keep_versions: int = D["keep_versions"],
        export_formats: str = D["export_formats"],
        force: bool = D["force"],
    ):
        values = dict(locals())  # the parameters by name: check-changes takes the model's
        ingest = ops.ingest(
            data_path=data_path,
            data_format=data_format,
            images_dir=images_dir,
            classes_file=classes_file,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            beam_args=beam_args,
        )
        changes = ops.changes(
            examples=ingest.outputs["examples"],
            serving_root=serving_root,
            model_name=model_name,
            force=force,
            **{name: values[name] for name in parameters.MODEL_PARAMETERS},
        )
        tasks = {"ingest": ingest, "changes": changes}
        with dsl.If(changes.outputs["Output"] == True, name="changed"):  # noqa: E712
            search = ops.search(
                examples=ingest.outputs["examples"],
                reuse_architecture=architecture,
                algorithm=search_algorithm,
                max_trials=search_max_trials,
                epochs=search_epochs,
                workers=search_workers,
                space=search_space,
                latency_weight=search_latency_weight,
                max_latency_ms=search_max_latency_ms,
                serving_size=image_size,
                screen=search_screen,
                proxy=search_proxy,
                trial_budget_s=search_trial_budget_s,
                budget_s=search_budget_s,
                confirm=search_confirm,
                seed=seed,
                serving_root=serving_root,
                model_name=model_name,
                checkpoint_root=checkpoint_root,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
            train = ops.train(
                examples=ingest.outputs["examples"],
                architecture=search.outputs["architecture"],
                epochs=train_epochs,
                budget_s=train_budget_s,
                batch_size=train_batch_size,
                warm_start=warm_start,
                backbone_weights=backbone_weights,
                image_size=image_size,
                serving_root=serving_root,
                model_name=model_name,
                checkpoint_root=checkpoint_root,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
            evaluate = ops.evaluate(
                model=train.outputs["model"],
                examples=ingest.outputs["examples"],
                baseline_model=baseline_model,
                serving_root=serving_root,
                model_name=model_name,
                min_ap=min_ap,
                tolerance=tolerance,
                class_tolerance=class_tolerance,
                class_min_boxes=class_min_boxes,
            )
            tasks.update(search=search, train=train, evaluate=evaluate)
            with dsl.If(evaluate.outputs["Output"] == True, name="blessed"):  # noqa: E712
                tasks["push"] = ops.push(
                    model=train.outputs["model"],
                    evaluation=evaluate.outputs["evaluation"],
                    changes=changes.outputs["changes"],
                    serving_root=serving_root,
                    model_name=model_name,
                    keep_versions=keep_versions,
                    export_formats=export_formats,
                )
        for step, task in tasks.items():
            task.set_display_name(TASK_NAMES[step])
            # Every step reads something outside its inputs (the data folder, the serving
            # location) or writes there: a cached result would be stale. Unchanged work is
            # skipped by check-changes instead, which compares contents, not input names.
            task.set_caching_options(False)
            apply_to_task(task, profile, step)

    nasdet.__doc__ = parameter_docs.docstring(PIPELINE_DESCRIPTION)
    return dsl.pipeline(
        name=PIPELINE_NAME,
        description=PIPELINE_DESCRIPTION,
        pipeline_root=profile.pipeline_root,
    )(nasdet)
