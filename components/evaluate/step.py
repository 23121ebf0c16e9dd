"""The evaluate step: COCO metrics of the exported model, the blessing, and the reports.

Writes the Evaluation artifact (``output_dir``): ``metrics.json`` (12 COCO numbers, per-class
AP, counts), ``blessing.json`` (blessed, reasons, candidate and baseline numbers, model and
data fingerprints, the operating point), ``pr_curves.json``, ``operating_point.json`` (P / R /
F1 against confidence, the best-F1 threshold, the confusion matrix there), ``report.md`` and
``report.html``. The model evaluated
is the SavedModel exactly as it would be pushed; the baseline runs on the same images in the
same pass.
"""

from __future__ import annotations

import datetime
import json
import os

from components.artifacts import examples, model, serving
from components.artifacts.evaluation import (
    BLESSING_FILE,
    METRICS_FILE,
    OPERATING_POINT_FILE,
    PR_CURVES_FILE,
    REPORT_HTML_FILE,
    REPORT_MD_FILE,
)
from components.errors import UserError
from components.evaluate import baseline, blessing, predict, report_html, report_md
from components.files import atomic_output_dir
from components.metrics import bootstrap, coco_eval, evaluators, operating_point


def _write_json(path: str, data) -> None:
    """Write ``data`` as indented JSON to local ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def _metrics_doc(result: dict, predictions, detections, evaluator: str, split: str) -> dict:
    """metrics.json: the 12 numbers at top level, per-class AP and counts."""
    return {
        **result["metrics"],
        "per_class": result["per_class"],
        "num_images": len(predictions.images),
        "num_ground_truth": int(sum(len(img.classes) for img in predictions.images)),
        "num_detections": int(sum(len(d.scores) for d in detections)),
        "evaluator": evaluator,
        "split": split,
    }


def _operating_point(predictions, categories: list[dict]) -> dict:
    """The candidate's P / R / F1 curve, best-F1 threshold and confusion matrix there."""
    curve = operating_point.f1_curve(predictions.images, predictions.detections[0])
    names = {c["id"]: c["name"] for c in categories}
    num_classes = max(names, default=0)  # ingest numbers the classes 1..K
    matrix = operating_point.confusion_matrix(
        predictions.images, predictions.detections[0], num_classes, curve["best"]["threshold"]
    )
    ids = range(1, num_classes + 1)
    return {
        **curve,
        "confusion_matrix": {
            "threshold": curve["best"]["threshold"],
            "labels": ["background"] + [names.get(i, str(i)) for i in ids],
            "matrix": matrix.tolist(),
        },
    }


def _uncertainty(predictions, categories, has_baseline: bool, compared: bool) -> dict:
    """Bootstrap intervals: the candidate's AP and, with a baseline, the paired difference
    (the candidate as the baseline was scored, when it was scored another way too)."""
    candidate = bootstrap.matches(predictions.images, predictions.detections[0], categories)
    if not has_baseline:
        return bootstrap.intervals(candidate)
    baseline = bootstrap.matches(predictions.images, predictions.detections[1], categories)
    if not compared:
        return bootstrap.intervals(candidate, baseline)
    ours = bootstrap.matches(predictions.images, predictions.detections[2], categories)
    own = bootstrap.intervals(candidate)  # the candidate's AP by its own signature
    return {
        **bootstrap.intervals(ours, baseline),
        "AP": own["AP"],
        "AP_estimate": own["AP_estimate"],
    }


def _worst_samples(predictions, threshold: float, count: int) -> list[tuple]:
    """``(image, truth, detections, (found, correct))`` of the ``count`` kept images with the
    most errors at ``threshold`` (missed boxes + false detections; ties: split order)."""
    by_id = {d.image_id: d for d in predictions.detections[0]}
    scored = []
    for image_id, image in predictions.samples.items():
        truth = predictions.images[image_id - 1]
        dets = by_id.get(image_id)
        found, correct = operating_point.image_outcomes(truth, dets, threshold)
        errors = int((~found).sum() + (~correct).sum())
        scored.append((-errors, image_id, (image, truth, dets, (found, correct))))
    return [item for _, _, item in sorted(scored, key=lambda s: s[:2])[:count]]


def run(
    model_dir: str,
    examples_dir: str,
    output_dir: str,
    baseline_dir: str | None = None,
    serving_root: str | None = None,
    model_name: str | None = None,
    rules: blessing.BlessingRules = blessing.DEFAULT_RULES,
    evaluator: str = evaluators.DEFAULT_EVALUATOR,
    batch_size: int = 8,
    num_samples: int = 12,
    sample_pool: int = 200,
    split: str = examples.TEST_SPLIT,
) -> dict:
    """Evaluate the model in ``model_dir`` on the test split of ``examples_dir``; bless or not.

    Detections are scored by the COCO protocol (each model's ``evaluation`` signature); the
    candidate is blessed when it passes every rule against the baseline (none is fine).

    Args:
        model_dir: the candidate: a Model artifact or a pushed version.
        examples_dir: an Examples artifact with the same labels as the model.
        output_dir: where the Evaluation artifact is written (metrics, blessing, reports).
        baseline_dir: the baseline (a Model artifact or a pushed version); else the newest
            version under ``serving_root``/``model_name``.
        serving_root: the serving volume holding the pushed versions.
        model_name: the model's folder under ``serving_root``.
        rules: the blessing rules (``components.blessing_rules.BlessingRules``).
        evaluator: the COCO scorer (a name of ``components.metrics.evaluators.EVALUATORS``).
        batch_size: images per inference batch.
        num_samples: images drawn with their boxes in the HTML report: the ones with the most
            errors (missed boxes + false detections at the best-F1 threshold) ...
        sample_pool: ... among the first this many images of the split (kept as thumbnails).
        split: the split scored.

    Returns:
        ``{"blessed", "reasons", "metrics", "confusion_matrix", "baseline_metrics",
        "output_dir"}``; ``metrics["operating_point"]`` is the best-F1 threshold and its
        precision, recall and F1.

    Raises:
        UserError: bad input (a missing model, labels that differ, bad options).
        TypeError: ``rules`` is not a ``BlessingRules``.
    """
    if not isinstance(rules, blessing.BlessingRules):
        raise TypeError(f"rules must be a BlessingRules, got {type(rules).__name__}")
    if evaluator not in evaluators.EVALUATORS:
        raise UserError(
            f"unknown evaluator {evaluator!r} (choose from {', '.join(evaluators.EVALUATORS)})"
        )
    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    candidate = model.locate_model(model_dir)
    base = baseline.resolve_baseline(baseline_dir, serving_root, model_name)
    categories = examples.categories(examples_dir)
    names = {c["id"]: c["name"] for c in categories}
    model_labels = model.read_label_names(candidate)
    if model_labels is not None and model_labels != names:
        raise UserError(
            f"the labels of {model_dir} ({model_labels}) differ from those of {examples_dir} ({names})"
        )
    note = None
    if base is None:
        note = "There is no baseline model (nothing pushed yet), so no comparison was made."
        if serving_root:
            where = serving.model_root(serving_root, model_name or "")
            note = f"There is no pushed version under {where} yet, so no comparison was made."
    elif model.read_label_names(base) not in (None, names):
        note = f"The baseline {base.root} has other classes than the eval data, so it was not compared."
        base = None

    model_fp = model.model_fingerprint(candidate.saved_model_dir)
    # A baseline whose SavedModel files are identical to the candidate's gives the same
    # detections: it is run once (loading a SavedModel is the slow part on a CPU).
    same = base is not None and model.model_fingerprint(base.saved_model_dir) == model_fp
    models = [predict.load_serving_fn(candidate.saved_model_dir)]
    if base is not None and not same:
        models.append(predict.load_serving_fn(base.saved_model_dir))
        if models[1].signature != models[0].signature:
            # A baseline exported before the evaluation signature: compare like with like,
            # the candidate through the baseline's signature too.
            models.append(
                predict.load_serving_fn(candidate.saved_model_dir, signature=models[1].signature)
            )
    predictions = predict.predict_split(
        models, examples_dir, split, batch_size, max(num_samples, sample_pool)
    )
    if same:
        predictions.detections.append(predictions.detections[0])
        predictions.signatures.append(predictions.signatures[0])

    scored = []  # (metrics.json document, coco_eval result) of each model run
    for detections, signature in zip(predictions.detections, predictions.signatures, strict=True):
        result = coco_eval.evaluate(predictions.images, detections, categories, evaluator)
        doc = _metrics_doc(result, predictions, detections, evaluator, split)
        doc["signature"] = signature
        scored.append((doc, result))
    metrics, result = scored[0]
    base_metrics = scored[1][0] if base is not None else None
    compared = scored[2][0] if len(scored) > 2 else None
    if compared is not None:
        extra = (
            f"The baseline {base.root} predates the evaluation signature, so both models were "
            f"compared through {compared['signature']} (their serving score thresholds); "
            f"the candidate's AP there is {compared['AP']:.4f}."
        )
        note = f"{note} {extra}" if note else extra
    uncertainty = _uncertainty(predictions, categories, base is not None, compared is not None)
    decision = blessing.decide(
        metrics,
        base_metrics,
        rules,
        base.root if base else None,
        note,
        compared=compared,
        uncertainty=uncertainty,
    )
    decision.update(
        {
            "model": model_dir,
            "model_fingerprint": model_fp,
            "examples": examples_dir,
            "data_fingerprint": examples.data_fingerprint(examples_dir),
            "evaluated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
    )
    op = _operating_point(predictions, categories)
    metrics["operating_point"] = op["best"]
    decision["operating_point"] = op["best"]
    samples = _worst_samples(predictions, op["best"]["threshold"], num_samples)
    with atomic_output_dir(output_dir) as tmp:
        _write_json(os.path.join(tmp, METRICS_FILE), metrics)
        _write_json(os.path.join(tmp, BLESSING_FILE), decision)
        _write_json(os.path.join(tmp, PR_CURVES_FILE), result["pr_curves"])
        _write_json(os.path.join(tmp, OPERATING_POINT_FILE), op)
        with open(os.path.join(tmp, REPORT_MD_FILE), "w", encoding="utf-8") as f:
            f.write(report_md.render(metrics, decision))
        with open(os.path.join(tmp, REPORT_HTML_FILE), "w", encoding="utf-8") as f:
            f.write(report_html.render(metrics, decision, result["pr_curves"], samples, names, op))
    return {
        "blessed": decision["blessed"],
        "reasons": decision["reasons"],
        "metrics": metrics,
        "confusion_matrix": op["confusion_matrix"],
        "baseline_metrics": base_metrics,
        "output_dir": output_dir,
    }
