"""COCO metrics of an in-memory Keras detector on the val split (the search's trials, the train
step's per-epoch AP).

Detections are the model's own decoded detections (the same resize/pad, box decoding, NMS and
mapping back to the original image as the exported model's ``evaluation`` signature: the COCO
protocol's top 100 per image above a 0.001 score floor, via
:func:`components.detector.export.make_detect_fn`), scored with pycocotools through
:func:`components.metrics.coco_eval.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from components.artifacts import examples
from components.errors import UserError

EVALUATOR = "pycocotools"


def coco_metrics(
    detector,
    config,
    examples_dir: str,
    max_images: int | None = None,
    batch_size: int = 8,
) -> dict[str, float]:
    """Return the 12 COCO numbers of ``detector`` (a Keras detector of ``config``) on the val split.

    Reads at most ``max_images`` eval images (all when None). Raises UserError when the eval
    split has no images.
    """
    return make_scorer(detector, config, examples_dir, max_images, batch_size)()


def make_scorer(
    detector,
    config,
    examples_dir: str,
    max_images: int | None = None,
    batch_size: int = 8,
) -> Callable[[], dict[str, float]]:
    """Return a function giving :func:`coco_metrics` of ``detector``'s current weights.

    The detection function is traced once, so calling it after every few epochs costs only
    reading the val split, the inference and the scoring.
    """
    import tensorflow as tf

    from components.data import example_reader, preprocess
    from components.detector.export import evaluation_config, make_detect_fn

    size = int(config.image_size)
    # The COCO protocol (top 100 per image, score floor 0.001), not the serving threshold:
    # weak trials still get distinct, comparable scores.
    detect = tf.function(make_detect_fn(detector, evaluation_config(config)), reduce_retracing=True)

    def prepare(example):
        padded, _ = preprocess.resize_and_pad(example["image"], size)
        out = {k: v for k, v in example.items() if k != "image"}
        out["padded"] = padded
        return out

    dataset = example_reader.read_split(examples_dir, examples.VAL_SPLIT)
    if max_images:
        dataset = dataset.take(max_images)
    dataset = dataset.map(prepare).padded_batch(batch_size)
    categories = examples.categories(examples_dir)

    def score() -> dict[str, float]:
        return _score(detect, dataset, categories, examples_dir)

    return score


def _score(detect, dataset, categories: list[dict], examples_dir: str) -> dict[str, float]:
    import tensorflow as tf

    from components.metrics import coco_eval

    truths, detections = [], []
    for batch in dataset.as_numpy_iterator():
        out = detect(
            tf.constant(batch["padded"]), tf.constant(batch["height"]), tf.constant(batch["width"])
        )
        out = {k: v.numpy() for k, v in out.items()}
        for row in range(len(batch["height"])):
            image_id = len(truths) + 1
            num_boxes = int(np.count_nonzero(batch["classes"][row]))
            truths.append(
                coco_eval.ImageTruth(
                    image_id=image_id,
                    source_id=batch["source_id"][row].decode("utf-8", "replace"),
                    width=int(batch["width"][row]),
                    height=int(batch["height"][row]),
                    boxes=batch["boxes"][row][:num_boxes].astype(np.float64),
                    classes=batch["classes"][row][:num_boxes].astype(np.int64),
                    is_crowd=batch["is_crowd"][row][:num_boxes].astype(np.int64),
                    area=batch["area"][row][:num_boxes].astype(np.float64),
                )
            )
            n = int(round(float(out["num_detections"][row])))
            detections.append(
                coco_eval.ImageDetections(
                    image_id=image_id,
                    boxes=out["detection_boxes"][row][:n].astype(np.float64),
                    scores=out["detection_scores"][row][:n].astype(np.float64),
                    classes=np.round(out["detection_classes"][row][:n]).astype(np.int64),
                )
            )
    if not truths:
        raise UserError(f"the val split of {examples_dir} has no images to score a model on")
    result = coco_eval.evaluate(truths, detections, categories, EVALUATOR)
    # COCO reports -1 where nothing can be measured (no ground truth in a bucket): read it as 0.
    return {k: max(0.0, float(v)) for k, v in result["metrics"].items()}
