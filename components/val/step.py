"""The val command's work: the evaluate step's numbers for a model on labelled images as they are.

The labels are read by the ingest step's readers and every image and box is validated by its
rules (``components.data.validate``: what ingest would quarantine is left out and counted here
too), then scored exactly as evaluate scores a test split: the same decoding, batching,
``evaluation`` signature, COCO protocol, operating point and bootstrap intervals. On the same
images it gives evaluate's numbers (a test checks it). Classes are matched to the model's by
name; boxes of classes the model does not know are counted, not scored.
"""

from __future__ import annotations

import json
import os

from components.artifacts import evaluation
from components.artifacts.model import read_label_names
from components.data.labels import LabelClass, LabelMap
from components.data.readers import guess_format, read_dataset
from components.errors import UserError
from components.metrics import evaluators
from components.predict.model_ref import resolve_model


def _label_map(dataset, names: dict[int, str]) -> tuple[LabelMap, list[str]]:
    """The dataset's classes mapped onto the model's ids by name; the names it lacks."""
    by_name = {name: cid for cid, name in names.items()}
    entries, unknown = [], []
    for cls in dataset.classes:
        if cls.name in by_name:
            entries.append(LabelClass(by_name[cls.name], cls.name, cls.source_id))
        else:
            unknown.append(cls.name)
    if not entries:
        raise UserError(
            f"none of the data's classes ({', '.join(sorted(c.name for c in dataset.classes))}) "
            f"is one of the model's ({', '.join(names[i] for i in sorted(names))})"
        )
    return LabelMap(tuple(entries)), sorted(unknown)


def run(
    data: str,
    model: str,
    fmt: str | None = None,
    images_dir: str | None = None,
    classes_file: str | None = None,
    output_dir: str | None = None,
    serving_root: str | None = None,
    model_name: str | None = None,
    evaluator: str = evaluators.DEFAULT_EVALUATOR,
    batch_size: int = 8,
) -> dict:
    """Score ``model`` on the labelled images of ``data``; return the summary dict.

    Args:
        data: the COCO instances JSON, or the VOC / YOLO label folder.
        model: a Model artifact, a pushed version, or ``production`` (with ``serving_root`` and
            ``model_name``).
        fmt: coco | voc | yolo (default: guessed from ``data``).
        images_dir / classes_file: as for ``nasdet ingest``.
        output_dir: when given, ``metrics.json`` and ``operating_point.json`` are written there.

    Returns:
        ``{"metrics": {12 numbers, per_class, operating_point}, "uncertainty", "images",
        "boxes", "unknown_classes", "quarantined", "model", "data"}``.

    Raises:
        UserError: unreadable labels, no class in common, no usable image.
    """
    import tensorflow as tf

    from components.data import example_reader
    from components.data.validate import validate_image
    from components.evaluate import predict
    from components.metrics import bootstrap, coco_eval, operating_point

    location = resolve_model(model, serving_root, model_name)
    names = read_label_names(location)
    if not names:
        raise UserError(f"{location.root} has no labels.json: cannot match classes by name")
    dataset = read_dataset(fmt or guess_format(data), data, images_dir, classes_file)
    label_map, unknown = _label_map(dataset, names)
    quarantined: dict[str, int] = {}
    for record in dataset.quarantine:  # records: an image or a box each
        quarantined[record.reason] = quarantined.get(record.reason, 0) + 1
    boxes_scored = 0

    def examples():
        nonlocal boxes_scored
        for image in dataset.images:
            validated = validate_image(image, label_map)
            for record in validated.quarantine:
                quarantined[record.reason] = quarantined.get(record.reason, 0) + 1
            if validated.example is None:
                continue
            boxes_scored += validated.boxes_accepted
            parsed = example_reader.parse_example(tf.constant(validated.example))
            yield {k: v.numpy() for k, v in parsed.items()}

    predictions = predict.predict_examples(
        [predict.load_serving_fn(location.saved_model_dir)],
        examples(),
        batch_size,
        keep_images=0,
        what=data,
    )
    categories = [{"id": i, "name": names[i]} for i in sorted(names)]
    detections = predictions.detections[0]
    result = coco_eval.evaluate(predictions.images, detections, categories, evaluator)
    curve = operating_point.f1_curve(predictions.images, detections)
    metrics = {
        **result["metrics"],
        "per_class": result["per_class"],
        "operating_point": curve["best"],
    }
    uncertainty = bootstrap.intervals(bootstrap.matches(predictions.images, detections, categories))
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, evaluation.METRICS_FILE), "w") as f:
            json.dump({**metrics, "uncertainty": uncertainty}, f, indent=2)
        with open(os.path.join(output_dir, evaluation.OPERATING_POINT_FILE), "w") as f:
            json.dump(curve, f, indent=2)
    return {
        "data": data,
        "model": location.root,
        "images": len(predictions.images),
        "boxes": boxes_scored,
        "unknown_classes": unknown,
        "quarantined": quarantined,
        "metrics": metrics,
        "uncertainty": uncertainty,
    }
