"""Detector quality at a fixed training budget: ``tiny``, ``d0`` at the same input size, and the
architecture a search picks, over several seeds; optionally YOLOv8n from scratch as the peer.

For each dataset (the bundled raccoon set, and coco128 from ``../shared/datasets`` when present)
the examples are ingested once (a hash split, 20 % eval). Each candidate is trained from
scratch for as many epochs as fit in ``--budget-s`` seconds of training (measured per candidate
by a 2-epoch probe whose time is not counted), then scored on the eval split with the COCO
protocol (pycocotools, the evaluate step's own code). The searched candidate is the pick of
``nasdet search`` (``--search-trials`` random trials of ``--search-epochs`` epochs in the small
space, both with the latency-aware reward ``--flops-weight`` and with AP alone), trained at
the same input size as the others. Seeds give the median and the range.

``--yolo-python PATH`` (an interpreter of a separate environment with ``ultralytics``; never a
dependency of nasdet) also trains YOLOv8n from ``yolov8n.yaml`` with Ultralytics' own time
budget and scores its detections with the same pycocotools code on the same ground truth.

    .venv/bin/python benchmarks/quality.py --budget-s 120 --seeds 0 1 2
    .venv/bin/python benchmarks/quality.py --datasets raccoon --yolo-python ../yolo-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BUNDLED = REPO / "components" / "data" / "sample" / "raccoon"
SHARED = REPO.parent / "shared" / "datasets"


def datasets(names: list[str]) -> dict[str, tuple[str, str, str]]:
    """``{name: (annotations, format, images)}`` of the datasets that are present."""
    found = {"raccoon": (str(BUNDLED / "annotations"), "voc", str(BUNDLED / "images"))}
    coco = SHARED / "coco128"
    if coco.is_dir():
        annotations = next(iter(sorted(coco.rglob("*.json"))), None)
        if annotations is not None:
            found["coco128"] = (str(annotations), "coco", str(coco / "images"))
    return {n: found[n] for n in names if n in found}


def ingest(name: str, source: tuple[str, str, str], work: str) -> str:
    from components.ingest import run

    out = os.path.join(work, f"{name}-examples")
    annotations, fmt, images = source
    images_dir = images if os.path.isdir(images) else None
    run(annotations, fmt, out, images_dir=images_dir, eval_fraction=0.2)
    return out


def _train_eval(examples: str, config_path: str, epochs: int, seed: int, work: str) -> dict:
    import keras

    from components.evaluate import run as evaluate
    from components.train import run as train

    keras.utils.set_random_seed(seed)
    model = tempfile.mkdtemp(prefix="model-", dir=work)
    started = time.monotonic()
    summary = train(
        examples_dir=examples,
        architecture=config_path,
        output_dir=model,
        epochs=epochs,
        seed=seed,
        verbose=0,
    )
    seconds = time.monotonic() - started
    metrics = evaluate(model, examples, model + ".eval")["metrics"]
    return {"seconds": seconds, "AP": metrics["AP"], "AP50": metrics["AP50"], "summary": summary}


def epochs_for_budget(examples: str, config_path: str, budget_s: float, work: str) -> int:
    """Epochs of ``config_path`` that fit in ``budget_s``: from a 2-epoch probe (the time of
    its second epoch, after tracing and the input pipeline's warm-up)."""
    import keras

    from components.train import run as train

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.monotonic() - self.started)

    times = EpochTimes()
    model = tempfile.mkdtemp(prefix="probe-", dir=work)
    train(examples, config_path, model, epochs=2, verbose=0, extra_callbacks=[times])
    return max(1, int(budget_s // max(times.seconds[-1], 1e-3)))


def write_config(name: str, image_size: int, work: str, config=None) -> str:
    from components.detector.config_load import load_architecture

    config = config or load_architecture(name)
    config = config.replace(image_size=image_size)
    path = os.path.join(work, f"{name}-{image_size}.json")
    with open(path, "w") as f:
        f.write(config.to_json())
    return path


def searched_config(examples: str, args, seed: int, flops_weight: float, work: str):
    from components.detector.config import DetectorConfig
    from components.search import run as search

    out = os.path.join(work, f"search-s{seed}-w{flops_weight}")
    summary = search(
        examples,
        out,
        algorithm="random",
        max_trials=args.search_trials,
        epochs=args.search_epochs,
        seed=seed,
        space="small",
        flops_weight=flops_weight,
    )
    config = DetectorConfig.load(summary["architecture"])
    return config, summary


def export_for_yolo(examples: str, out: str) -> str:
    """Write the examples' train and eval splits as an Ultralytics dataset under ``out``.

    The images are the records' encoded bytes, unchanged; ``gt.json`` holds the eval split's
    boxes in COCO form (the same ground truth the evaluate step scores against). Returns the
    path of ``data.yaml``.
    """
    import tensorflow as tf

    from components.artifacts.examples import EVAL_SPLIT, TRAIN_SPLIT
    from components.data import example_reader, schema

    gt = {"images": [], "annotations": [], "categories": []}
    classes = {}
    for split, sub in ((TRAIN_SPLIT, "train"), (EVAL_SPLIT, "val")):
        os.makedirs(os.path.join(out, "images", sub), exist_ok=True)
        os.makedirs(os.path.join(out, "labels", sub), exist_ok=True)
        shards = example_reader.list_shards(examples, split)
        for index, record in enumerate(example_reader.read_records(shards, shuffle_files=False)):
            feature = tf.train.Example.FromString(record.numpy()).features.feature

            def values(key, feature=feature):
                entry = feature[key]
                return list(entry.float_list.value or entry.int64_list.value)

            encoded = feature[schema.IMAGE_ENCODED].bytes_list.value[0]
            stem = f"{sub}-{index:05d}"
            with open(os.path.join(out, "images", sub, f"{stem}.jpg"), "wb") as f:
                f.write(encoded)
            height, width = tf.image.extract_jpeg_shape(encoded).numpy()[:2].tolist()
            boxes = zip(
                values(schema.BBOX_YMIN),
                values(schema.BBOX_XMIN),
                values(schema.BBOX_YMAX),
                values(schema.BBOX_XMAX),
                values(schema.CLASS_LABEL),
                strict=True,
            )
            lines = []
            if sub == "val":
                gt["images"].append(
                    {"id": index + 1, "file_name": f"{stem}.jpg", "width": width, "height": height}
                )
            for ymin, xmin, ymax, xmax, label in boxes:
                label = int(label)
                classes[label] = True
                cx, cy, w, h = (xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin
                lines.append(f"{label - 1} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
                if sub == "val":
                    bw, bh = w * width, h * height
                    gt["annotations"].append(
                        {
                            "id": len(gt["annotations"]) + 1,
                            "image_id": index + 1,
                            "category_id": label,
                            "bbox": [xmin * width, ymin * height, bw, bh],
                            "area": bw * bh,
                            "iscrowd": 0,
                        }
                    )
            with open(os.path.join(out, "labels", sub, f"{stem}.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
    num_classes = max(classes) if classes else 1
    gt["categories"] = [{"id": i, "name": str(i)} for i in range(1, num_classes + 1)]
    with open(os.path.join(out, "gt.json"), "w") as f:
        json.dump(gt, f)
    names = ", ".join(f"{i}: c{i + 1}" for i in range(num_classes))
    data = os.path.join(out, "data.yaml")
    with open(data, "w") as f:
        f.write(f"path: {out}\ntrain: images/train\nval: images/val\nnames: {{{names}}}\n")
    return data


def yolo(python: str, data: str, args, seed: int) -> dict:
    """YOLOv8n from scratch in the separate environment ``python``, same split, same scoring."""
    script = REPO / "benchmarks" / "yolo_peer.py"
    argv = [python, str(script), "--data", data, "--imgsz", str(args.yolo_imgsz)]
    argv += ["--seconds", str(args.budget_s), "--seed", str(seed)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"yolo_peer.py failed: {result.stderr[-2000:]}")
    return json.loads(lines[-1])


def summarise(rows: list[dict]) -> str:
    aps = [r["AP"] for r in rows]
    ap50s = [r["AP50"] for r in rows]
    return (
        f"{statistics.median(aps):.4f} [{min(aps):.4f}..{max(aps):.4f}] | "
        f"{statistics.median(ap50s):.4f} [{min(ap50s):.4f}..{max(ap50s):.4f}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["raccoon", "coco128"])
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--search-trials", type=int, default=4)
    parser.add_argument("--search-epochs", type=int, default=2)
    parser.add_argument("--flops-weight", type=float, default=-0.07)
    parser.add_argument("--yolo-python", help="interpreter of a separate ultralytics environment")
    parser.add_argument("--yolo-imgsz", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.artifacts.examples import read_labels
    from components.detector.config import DetectorConfig
    from components.detector.describe import describe

    work = tempfile.mkdtemp(prefix="nasdet-quality-")
    print(
        f"training budget {args.budget_s:.0f} s per model, {args.image_size} px, seeds {args.seeds}"
    )
    for name, source in datasets(args.datasets).items():
        examples = ingest(name, source, work)
        num_classes = len(read_labels(examples)["classes"])
        data = (
            export_for_yolo(examples, os.path.join(work, f"{name}-yolo"))
            if args.yolo_python
            else ""
        )
        results: dict[str, list[dict]] = {}
        flops: dict[str, list[float]] = {}
        for seed in args.seeds:
            candidates = {
                "tiny": write_config("tiny", args.image_size, work),
                "d0": write_config("d0", args.image_size, work),
            }
            for weight in (args.flops_weight, 0.0):
                config, _ = searched_config(examples, args, seed, weight, work)
                label = f"searched (w={weight:g})"
                candidates[label] = write_config(
                    f"searched-s{seed}-w{weight}", args.image_size, work, config
                )
            for label, path in candidates.items():
                epochs = epochs_for_budget(examples, path, args.budget_s, work)
                row = _train_eval(examples, path, epochs, seed, work)
                row["epochs"] = epochs
                results.setdefault(label, []).append(row)
                config = DetectorConfig.load(path).replace(num_classes=num_classes)
                flops.setdefault(label, []).append(describe(config)["flops"])
                print(
                    f"  {name} seed {seed} {label}: {epochs} epochs, {row['seconds']:.0f} s, "
                    f"AP {row['AP']:.4f}, AP50 {row['AP50']:.4f}",
                    flush=True,
                )
            if args.yolo_python:
                label = f"YOLOv8n (peer, {args.yolo_imgsz} px)"
                row = yolo(args.yolo_python, data, args, seed)
                results.setdefault(label, []).append(row)
                print(f"  {name} seed {seed} {label}: AP {row['AP']:.4f}", flush=True)
        print(f"\n## {name}\n")
        # "step s": the whole train step (tracing, epochs, batch-norm calibration, export) for
        # nasdet; Ultralytics' training time for the peer.
        print("| model | FLOPs (M) | epochs | step s | AP median [range] | AP50 median [range] |")
        print("|---|---:|---:|---:|---|---|")
        for label, rows in results.items():
            macs = f"{statistics.median(flops[label]) / 1e6:.0f}" if label in flops else "-"
            epochs = [r["epochs"] for r in rows if "epochs" in r]
            shown = f"{statistics.median(epochs):.0f}" if epochs else "-"
            seconds = statistics.median(r["seconds"] for r in rows)
            print(f"| {label} | {macs} | {shown} | {seconds:.0f} | {summarise(rows)} |")
        base = statistics.median(r["AP"] for r in results["tiny"])
        for label, rows in results.items():
            ratio = statistics.median(r["AP"] for r in rows) / base if base else float("nan")
            print(f"- {label}: AP {ratio:.2f}x tiny's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
