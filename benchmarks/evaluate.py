"""COCO evaluation time: pycocotools vs faster-coco-eval on the same synthetic set, same run.

    .venv/bin/python benchmarks/evaluate.py [--images 5000] [--detections 50000] [--repeats 3]

The set is random but seeded: each image has 1-5 ground-truth boxes of 10 classes (some crowd,
some images empty) and an equal share of the detections (noisy copies of the ground truth plus
random boxes, random scores). Each evaluator runs the whole evaluation (index, evaluate,
accumulate) through ``components.evaluate.evaluators.accumulate``, which is exactly what the
evaluate step does; the time is the median of ``--repeats`` runs. It prints both times, their
ratio and the largest absolute difference of the 12 COCO numbers and of the precision arrays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.metrics import coco_eval, evaluators  # noqa: E402

NUM_CLASSES = 10


def synthetic_set(num_images: int, num_detections: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """A COCO ground-truth dict and detection list of the given sizes (seeded, reproducible)."""
    rng = np.random.default_rng(seed)
    categories = [{"id": k, "name": f"class{k}"} for k in range(1, NUM_CLASSES + 1)]
    images, truths, detections = [], [], []
    per_image = np.full(num_images, num_detections // num_images)
    per_image[: num_detections - per_image.sum()] += 1
    for image_id in range(1, num_images + 1):
        width, height = int(rng.integers(320, 800)), int(rng.integers(240, 640))
        n_gt = 0 if image_id % 20 == 0 else int(rng.integers(1, 6))
        xy = rng.uniform(0, 0.8, (n_gt, 2))
        wh = rng.uniform(0.02, 0.5, (n_gt, 2))
        boxes = np.clip(np.concatenate([xy, xy + wh], axis=1), 0, 1)
        classes = rng.integers(1, NUM_CLASSES + 1, n_gt)
        crowd = (rng.uniform(size=n_gt) < 0.05).astype(int)
        truths.append(
            coco_eval.ImageTruth(
                image_id, str(image_id), width, height, boxes, classes, crowd, np.zeros(n_gt)
            )
        )
        n_det = int(per_image[image_id - 1])
        n_copy = min(n_gt, n_det)
        noisy = boxes[:n_copy] + rng.normal(0, 0.03, (n_copy, 4))
        rand_xy = rng.uniform(0, 0.8, (n_det - n_copy, 2))
        rand = np.concatenate(
            [rand_xy, rand_xy + rng.uniform(0.02, 0.3, (n_det - n_copy, 2))], axis=1
        )
        det_classes = np.concatenate(
            [classes[:n_copy], rng.integers(1, NUM_CLASSES + 1, n_det - n_copy)]
        )
        detections.append(
            coco_eval.ImageDetections(
                image_id, np.concatenate([noisy, rand]), rng.uniform(0.01, 1, n_det), det_classes
            )
        )
        images.append(image_id)
    gt = coco_eval.ground_truth_dict(truths, categories)
    return gt, coco_eval.detections_list(truths, detections)


def timed(gt: dict, dets: list[dict], evaluator: str, repeats: int):
    """(median seconds, last Accumulated) of ``repeats`` full evaluations with ``evaluator``."""
    times, acc = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        acc = evaluators.accumulate(gt, dets, evaluator)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, acc


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the results; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--detections", type=int, default=50000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    gt, dets = synthetic_set(args.images, args.detections)
    print(
        f"synthetic set: {len(gt['images'])} images, {len(gt['annotations'])} ground-truth boxes "
        f"({sum(a['iscrowd'] for a in gt['annotations'])} crowd), {len(dets)} detections, "
        f"{NUM_CLASSES} classes; median of {args.repeats} runs each"
    )
    results = {}
    for name in (evaluators.PYCOCOTOOLS, evaluators.FASTER):
        median, times, acc = timed(gt, dets, name, args.repeats)
        results[name] = (median, acc)
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name:<17} {median:8.2f} s   (runs: {runs})")
    (ref_t, ref), (fast_t, fast) = results[evaluators.PYCOCOTOOLS], results[evaluators.FASTER]
    ref_numbers, fast_numbers = coco_eval.summary(ref), coco_eval.summary(fast)
    diff12 = max(abs(ref_numbers[n] - fast_numbers[n]) for n in coco_eval.METRIC_NAMES)
    diff_p = float(np.max(np.abs(ref.precision - fast.precision)))
    diff_r = float(np.max(np.abs(ref.recall - fast.recall)))
    print(f"speed-up (pycocotools / faster-coco-eval): {ref_t / fast_t:.1f}x")
    print(f"max |difference| of the 12 numbers: {diff12:.3g}")
    print(f"max |difference| of precision [T,R,K,A,M]: {diff_p:.3g}; of recall: {diff_r:.3g}")
    print(
        "12 numbers (pycocotools): "
        + ", ".join(f"{n} {ref_numbers[n]:.4f}" for n in coco_eval.METRIC_NAMES)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
