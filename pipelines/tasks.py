"""The bodies of the pipeline's tasks: plain values and paths in, a ``TaskResult`` out.

Each KFP component in ``pipelines.kfp_steps`` is a thin wrapper: it passes its parameters
and its artifacts' paths to the function here of the same step, then hands the result to
:func:`publish`, which puts it on the KFP artifacts (numbers on ``Metrics``, metadata on the
step's main artifact, the report as ``Markdown`` / ``HTML``). What a KFP parameter cannot say
directly is converted here: an empty string means "not given", ``production`` means the
newest pushed version, an empty ``data_path`` the sample bundled with the code, and the run id
keys the checkpoints. Everything here runs without KFP (the tests call it directly).

The names of the files the pipeline side reads from the steps' outputs are those of the
artifact modules (``components.artifacts``), where the steps take them from too.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from typing import Any

from components import files
from components.artifacts import architecture, changes, evaluation, examples, model
from pipelines import step_io


@dataclasses.dataclass
class TaskResult:
    """What a task hands to KFP.

    ``metrics``: the summary whose numbers are logged on the ``Metrics`` artifact;
    ``metadata``: set on the step's main output artifact; ``markdown`` / ``html``: the report
    pages (self-contained); ``value``: the component's return value (evaluate: blessed);
    ``confusion``: a confusion matrix for a ``ClassificationMetrics`` artifact.
    """

    metrics: dict[str, Any]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    markdown: str | None = None
    html: str | None = None
    value: Any = None
    confusion: dict | None = None  # {"labels": [...], "matrix": [[...]]}


def _report(path: str, fallback: str) -> str:
    """The Markdown report at ``path`` with its images inlined, or ``fallback`` when absent."""
    if not os.path.isfile(path):
        return fallback
    with open(path, encoding="utf-8") as f:
        return step_io.inline_images(f.read(), os.path.dirname(os.path.abspath(path)))


def ingest(
    *,
    data_path: str,
    data_format: str,
    images_dir: str,
    classes_file: str,
    val_fraction: float,
    test_fraction: float,
    beam_args: str,
    output_dir: str,
) -> TaskResult:
    """Ingest ``data_path`` (empty: the bundled sample) into the examples at ``output_dir``."""
    from components.ingest import run

    if not data_path:
        data_path, sample_images = step_io.bundled_sample()
        images_dir = images_dir or sample_images
    summary = run(
        input_path=data_path,
        fmt=data_format,
        output_dir=output_dir,
        images_dir=images_dir or None,
        classes_file=classes_file or None,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        beam_args=shlex.split(beam_args),
    )
    fallback = step_io.summary_markdown("Ingestion", summary)
    return TaskResult(
        metrics=summary,
        metadata={"data_path": data_path, "data_format": data_format},
        markdown=_report(os.path.join(output_dir, examples.REPORT_FILE), fallback),
    )


def check_changes(
    *,
    examples_dir: str,
    serving_root: str,
    model_name: str,
    force: bool,
    parameters: dict[str, Any],
    output_dir: str,
) -> TaskResult:
    """Compare the run with the production version; ``value`` is True when the run goes on.

    ``parameters`` are the pipeline parameters that shape the model or its judgement
    (``pipelines.parameters.MODEL_PARAMETERS``); the code compared is the nasdet packages this
    task runs (the image's).
    """
    from components.changes import run
    from components.changes.step import default_code_roots

    decision = run(
        examples_dir=examples_dir,
        serving_root=serving_root,
        model_name=model_name,
        parameters=parameters,
        code_roots=default_code_roots(),
        output_dir=output_dir,
        force=bool(force),
    )
    print(f"retrain: {'yes' if decision['proceed'] else 'no'}: {decision['reason']}")
    production = decision["production"] or {}
    return TaskResult(
        metrics={},
        metadata={
            "proceed": decision["proceed"],
            "reason": decision["reason"],
            "changed": decision["changed"],
            "production_version": production.get("version") or "",
        },
        markdown=_report(os.path.join(output_dir, changes.REPORT_FILE), decision["reason"]),
        value=decision["proceed"],
    )


def search(
    *,
    examples_dir: str,
    output_dir: str,
    reuse_architecture: str,
    algorithm: str,
    max_trials: int,
    epochs: int,
    workers: int,
    space: str,
    seed: int,
    serving_root: str,
    model_name: str,
    checkpoint_root: str,
    run_id: str,
    latency_weight: float,
    max_latency_ms: str,
    serving_size: int,
    screen: int,
    proxy: str,
    trial_budget_s: float = 0.0,
    budget_s: float = 0.0,
    confirm: int = 0,
) -> TaskResult:
    """Search (or reuse: a preset, a file, ``production``) and write the architecture.

    ``latency_weight`` is the exponent of the reward on measured latency (0: AP alone),
    ``max_latency_ms`` the latency limit (``base``: the space's base preset's; a number of ms;
    0: none), ``serving_size`` the size latencies are measured at (0: each architecture's own),
    ``screen`` / ``proxy`` the screening (``components.search.screening``; 0: none),
    ``trial_budget_s`` the CPU seconds of training per trial (0: ``epochs`` epochs),
    ``budget_s`` the seconds the search may take (0: no time budget), ``confirm`` the leading
    networks its end trains again (``components.search.confirm``; 0: none).
    The tuner project lives under ``checkpoint_root/run_id/search`` (a retried attempt resumes
    there) and is removed when the search succeeds.
    """
    from components.search import run
    from components.tuner_settings import parse_max_latency

    if reuse_architecture == step_io.PRODUCTION:
        version = step_io.production_version(reuse_architecture, serving_root, model_name)
        print(f"architecture production: {version or 'nothing pushed yet, searching'}")
        reuse_architecture = files.join(version, model.CONFIG_FILE) if version else ""
    work_dir = step_io.checkpoint_dir(checkpoint_root, run_id, "search")
    summary = run(
        examples_dir=examples_dir,
        output_dir=output_dir,
        algorithm=algorithm,
        max_trials=max_trials,
        epochs=epochs,
        workers=workers,
        seed=seed,
        space=space,
        latency_weight=latency_weight,
        max_latency_ms=parse_max_latency(max_latency_ms),
        serving_size=serving_size,
        screen=screen,
        proxy=proxy,
        trial_budget_s=trial_budget_s,
        budget_s=budget_s,
        confirm=confirm,
        reuse_architecture=reuse_architecture or None,
        work_dir=work_dir,
    )
    step_io.remove_checkpoints(work_dir)
    fallback = step_io.summary_markdown("Architecture search", summary)
    table = step_io.csv_to_markdown(os.path.join(output_dir, architecture.TRIALS_FILE))
    if table:
        fallback += "\n## Trials\n\n" + table
    return TaskResult(
        metrics=summary,
        markdown=_report(os.path.join(output_dir, architecture.REPORT_FILE), fallback),
    )


def train(
    *,
    examples_dir: str,
    architecture_dir: str,
    output_dir: str,
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
) -> TaskResult:
    """Train the architecture of ``architecture_dir``; write the Model artifact.

    0 and "" mean the recipe's or the architecture's own value; ``warm_start`` may be
    ``production``. Epoch checkpoints live under ``checkpoint_root/run_id/train``.
    """
    from components.train import run

    if warm_start == step_io.PRODUCTION:
        warm_start = step_io.production_version(warm_start, serving_root, model_name) or ""
        print(f"warm start production: {warm_start or 'nothing pushed yet, from scratch'}")
    work_dir = step_io.checkpoint_dir(checkpoint_root, run_id, "train")
    summary = run(
        examples_dir=examples_dir,
        architecture=os.path.join(architecture_dir, architecture.ARCHITECTURE_FILE),
        output_dir=output_dir,
        epochs=epochs or None,
        budget_s=budget_s or None,
        batch_size=batch_size or None,
        warm_start=warm_start or None,
        backbone_weights=backbone_weights or None,
        image_size=image_size or None,
        work_dir=work_dir,
        verbose=0,  # one progress line per epoch instead of Keras' bars (components.progress)
    )
    step_io.remove_checkpoints(work_dir)
    return TaskResult(
        metrics=summary,
        metadata={"framework": "tensorflow", "warm_start": warm_start},
        markdown=_train_report(summary, output_dir),
    )


def _train_report(summary: dict, output_dir: str) -> str:
    """The train step's page: the curves (inline) and the run's numbers."""
    from components.train.curves import CURVES_FILE

    page = step_io.summary_markdown("Training", summary)
    if os.path.isfile(os.path.join(output_dir, CURVES_FILE)):
        page = page.replace("\n", f"\n\n![training curves]({CURVES_FILE})\n", 1)
    return step_io.inline_images(page, output_dir)


def evaluate(
    *,
    model_dir: str,
    examples_dir: str,
    output_dir: str,
    baseline_model: str,
    serving_root: str,
    model_name: str,
    min_ap: float,
    tolerance: float,
    class_tolerance: float,
    class_min_boxes: int,
) -> TaskResult:
    """Evaluate and decide; ``value`` is True when blessed.

    The baseline is ``baseline_model`` when given, else the newest version pushed under
    ``serving_root/model_name``.
    """
    from components.evaluate import run
    from components.evaluate.blessing import BlessingRules

    summary = run(
        model_dir=model_dir,
        examples_dir=examples_dir,
        output_dir=output_dir,
        baseline_dir=baseline_model or None,
        # An explicit baseline replaces the newest pushed version.
        serving_root=None if baseline_model else serving_root or None,
        model_name=model_name or None,
        rules=BlessingRules(
            min_ap=min_ap,
            tolerance=tolerance,
            class_tolerance=class_tolerance,
            class_min_boxes=class_min_boxes,
        ),
    )
    blessed = bool(summary["blessed"])
    fallback = step_io.summary_markdown("Evaluation", summary)
    html_path = os.path.join(output_dir, evaluation.REPORT_HTML_FILE)
    if os.path.isfile(html_path):
        with open(html_path, encoding="utf-8") as f:
            html = f.read()
    else:
        html = "<html><body><pre>" + fallback + "</pre></body></html>"
    return TaskResult(
        metrics={**(summary.get("metrics") or {}), "blessed": blessed},
        metadata={"blessed": blessed},
        markdown=_report(os.path.join(output_dir, evaluation.REPORT_MD_FILE), fallback),
        html=html,
        value=blessed,
        confusion=summary.get("confusion_matrix"),
    )


def push(
    *,
    model_dir: str,
    evaluation_dir: str,
    changes_dir: str,
    serving_root: str,
    model_name: str,
    keep_versions: int,
    export_formats: str,
    output_file: str,
) -> TaskResult:
    """Push the blessed model with what it was trained from (the Changes artifact's
    ``trained_on``); write the push record to ``output_file``; the model card is the step's
    Markdown page. The profile's InferenceService options come from the task's environment
    (``pipelines.serving_manifest``): push writes ``inferenceservice.yaml`` beside the versions.
    ``export_formats`` (comma separated) go into the version's ``exports/``."""
    from components.export.formats import parse_names
    from components.push import run
    from pipelines.serving_manifest import options_from_environment

    summary = run(
        model_dir=model_dir,
        blessing_file=os.path.join(evaluation_dir, evaluation.BLESSING_FILE),
        serving_root=serving_root,
        model_name=model_name,
        keep=keep_versions or None,
        trained_on=changes.read(changes_dir)["trained_on"],
        serving_options=options_from_environment(),
        export_formats=parse_names(export_formats),
    )
    step_io.write_json(output_file, summary)
    from components import files

    return TaskResult(
        metrics={},
        metadata={"version": summary["version"], "path": str(summary["path"])},
        markdown=files.read_text(summary["model_card"]),
    )


def publish(
    result: TaskResult,
    artifact: Any,
    metrics: Any = None,
    markdown: Any = None,
    html: Any = None,
    confusion: Any = None,
) -> Any:
    """Put ``result`` on the KFP artifacts given; return ``result.value``."""
    if metrics is not None:
        step_io.log_metrics(metrics, result.metrics)
    if confusion is not None and result.confusion:
        confusion.log_confusion_matrix(result.confusion["labels"], result.confusion["matrix"])
    artifact.metadata.update(result.metadata)
    for target, text in ((markdown, result.markdown), (html, result.html)):
        if target is not None and text is not None:
            os.makedirs(os.path.dirname(os.path.abspath(target.path)), exist_ok=True)
            with open(target.path, "w", encoding="utf-8") as f:
                f.write(text)
    return result.value
