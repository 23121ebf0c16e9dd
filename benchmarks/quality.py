"""Detector quality at equal CPU time, on every dataset present, against YOLOv8n from scratch.

For each dataset (the bundled raccoon set always; coco128, bccd, cards and microcontroller from
``../shared/datasets`` when present) the examples are ingested once with the pipeline's split
(70/15/15 train/val/test by the stable hash). Each candidate (a preset, optionally with config
overrides: ``--variant NAME:key=value,key=value``) is trained from scratch with a budget of
CPU seconds actually used by training (``components.train``'s ``budget_s``: the epochs and the
schedule are fitted to it), selects its epoch on ``val``, and is scored on ``test`` with the
COCO protocol by the evaluate step's own code. Each size runs its own budget and seeds
(``--sizes 128:120:3 256:300:1`` is image size : CPU seconds : seeds).

``--yolo-python PATH`` (an interpreter of a separate environment with ``ultralytics``, never a
dependency of nasdet) also trains YOLOv8n from ``yolov8n.yaml`` on the same train images with
the same CPU-second budget (``benchmarks/yolo_peer.py``) and scores its detections of the same
test images with the same pycocotools code. Its results are cached in ``--results`` (JSON
lines, one per run, nasdet's too, with a digest of the config trained), so a rerun with other
variants trains only what is new, and a preset changed since is trained again.

It prints, per dataset and size, AP / AP50 (median and range over seeds) and each candidate's
ratio to YOLOv8n's median AP, then the geometric mean of the ratios per candidate (datasets
where both score below 0.02 AP are reported and left out of the ratio).

    .venv/bin/python benchmarks/quality.py --yolo-python ../yolo-venv/bin/python
    .venv/bin/python benchmarks/quality.py --sizes 128:120:1 --variant base: \
        --variant giou:loss.box_loss=giou --results /tmp/ablation.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BUNDLED = REPO / "components" / "data" / "sample" / "raccoon"
SHARED = REPO.parent / "shared" / "datasets"
NAMES = ("raccoon", "coco128", "bccd", "cards", "microcontroller")
FLOOR = 0.02  # both below this AP: reported, left out of the ratio


def datasets(names) -> dict[str, tuple[str, str, str]]:
    """``{name: (annotations, format, images)}`` of the datasets that are present."""
    found = {"raccoon": (str(BUNDLED / "annotations"), "voc", str(BUNDLED / "images"))}
    for name in NAMES[1:]:
        root = SHARED / name
        if not root.is_dir():
            continue
        coco = sorted((root / "annotations").glob("*.json"))
        if coco:
            images = next(p for p in root.iterdir() if p.is_dir() and p.name != "annotations")
            found[name] = (str(coco[0]), "coco", str(images))
        else:
            found[name] = (str(root / "annotations"), "voc", str(root / "images"))
    return {n: found[n] for n in names if n in found}


def ingest(name: str, source: tuple[str, str, str], work: str) -> str:
    from components.ingest import run

    out = os.path.join(work, f"{name}-examples")
    if not os.path.isdir(out):
        annotations, fmt, images = source
        run(annotations, fmt, out, images_dir=images)
    return out


def parse_variant(text: str) -> tuple[str, dict]:
    """``NAME:key=value,key=value`` (values JSON or plain strings) -> (NAME, overrides)."""
    name, _, rest = text.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return name, overrides


def resolved_config(preset: str, overrides: dict, size: int):
    """The detector config a candidate trains: ``preset`` + ``overrides`` at ``size`` px."""
    from components.detector.config_load import load_architecture

    return load_architecture(preset).with_overrides({**overrides, "image_size": size})


def config_digest(preset: str, overrides: dict, size: int, examples: str) -> str:
    """A digest of the config trained on ``examples``: a cached result is reused only for the
    very same config (a preset changed since is trained again). Anchors fitted to the data
    (``anchors.fit``) are digested as fitted, so a fit that keeps a scale already measured
    reuses that measurement."""
    import hashlib

    from components.artifacts.examples import TRAIN_SPLIT
    from components.detector.anchor_fit import fit_to_examples

    config, _ = fit_to_examples(resolved_config(preset, overrides, size), examples, TRAIN_SPLIT)
    data = config.to_dict()
    del data["anchors"]["fit"]  # resolved into anchor_scale just above
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_eval(examples: str, preset: str, overrides: dict, size: int, budget_s, seed, work):
    """Train ``preset`` + ``overrides`` at ``size`` px for ``budget_s`` CPU s; score on test."""
    import keras

    from components.evaluate import run as evaluate
    from components.train import run as train

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    config = resolved_config(preset, overrides, size)
    folder = tempfile.mkdtemp(prefix="model-", dir=work)
    path = os.path.join(folder, "architecture.json")
    config.save(path)
    model = os.path.join(folder, "model")
    summary = train(examples, path, model, budget_s=budget_s, seed=seed, verbose=0)
    metrics = evaluate(model, examples, model + ".eval")["metrics"]
    return {
        "AP": metrics["AP"],
        "AP50": metrics["AP50"],
        "cpu_seconds": summary["budget_used_s"],
        "epochs": summary["epochs_run"],
    }


def export_for_yolo(examples: str, out: str) -> str:
    """Write the examples' train split and test split (as ``val``) as an Ultralytics dataset.

    The images are the records' encoded bytes, unchanged; ``gt.json`` holds the test split's
    boxes in COCO form (the ground truth the evaluate step scores). Returns ``data.yaml``.
    """
    import tensorflow as tf

    from components.artifacts.examples import TEST_SPLIT, TRAIN_SPLIT, read_labels
    from components.data import example_reader, schema

    gt = {"images": [], "annotations": [], "categories": []}
    for split, sub in ((TRAIN_SPLIT, "train"), (TEST_SPLIT, "val")):
        os.makedirs(os.path.join(out, "images", sub), exist_ok=True)
        os.makedirs(os.path.join(out, "labels", sub), exist_ok=True)
        shards = example_reader.list_shards(examples, split)
        for index, record in enumerate(example_reader.read_records(shards)):
            feature = tf.train.Example.FromString(record.numpy()).features.feature

            def values(key, feature=feature):
                entry = feature[key]
                return list(entry.float_list.value or entry.int64_list.value)

            stem = f"{sub}-{index:05d}"
            encoded = feature[schema.IMAGE_ENCODED].bytes_list.value[0]
            with open(os.path.join(out, "images", sub, f"{stem}.jpg"), "wb") as f:
                f.write(encoded)
            height = int(values(schema.IMAGE_HEIGHT)[0])
            width = int(values(schema.IMAGE_WIDTH)[0])
            if sub == "val":
                gt["images"].append(
                    {"id": index + 1, "file_name": f"{stem}.jpg", "width": width, "height": height}
                )
            lines = []
            keys = (schema.BBOX_YMIN, schema.BBOX_XMIN, schema.BBOX_YMAX, schema.BBOX_XMAX)
            boxes = zip(*(values(k) for k in keys), values(schema.CLASS_LABEL), strict=True)
            for ymin, xmin, ymax, xmax, label in boxes:
                cx, cy, w, h = (xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin
                lines.append(f"{int(label) - 1} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
                if sub == "val":
                    bw, bh = w * width, h * height
                    gt["annotations"].append(
                        {
                            "id": len(gt["annotations"]) + 1,
                            "image_id": index + 1,
                            "category_id": int(label),
                            "bbox": [xmin * width, ymin * height, bw, bh],
                            "area": bw * bh,
                            "iscrowd": 0,
                        }
                    )
            with open(os.path.join(out, "labels", sub, f"{stem}.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
    classes = read_labels(examples)["classes"]
    gt["categories"] = [{"id": int(c["id"]), "name": str(c["name"])} for c in classes]
    with open(os.path.join(out, "gt.json"), "w") as f:
        json.dump(gt, f)
    names = ", ".join(f"{i}: c{i + 1}" for i in range(len(classes)))
    data = os.path.join(out, "data.yaml")
    with open(data, "w") as f:
        f.write(f"path: {out}\ntrain: images/train\nval: images/val\nnames: {{{names}}}\n")
    return data


def yolo(python: str, data: str, size: int, budget_s: float, seed: int, threads: int) -> dict:
    """YOLOv8n from scratch in the separate environment ``python``, same split, same scoring."""
    script = REPO / "benchmarks" / "yolo_peer.py"
    argv = [python, str(script), "--data", data, "--imgsz", str(size)]
    argv += ["--seconds", str(budget_s), "--seed", str(seed), "--threads", str(threads)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"yolo_peer.py failed: {result.stderr[-2000:]}")
    return json.loads(lines[-1])


def load_results(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def append_result(path: str, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def spread(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows]
    return f"{statistics.median(values):.3f} [{min(values):.3f}..{max(values):.3f}]"


def geometric_mean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def ablation(results: list[dict], labels: list[str], sizes) -> None:
    """Each variant's median AP over the first variant's, per dataset, and their geometric mean
    over the datasets both ran on (where both score below 0.02 AP: left out)."""
    base = labels[0]
    print(f"\n## Ablation: AP over {base}'s (median of the seeds each ran)\n")
    for size, budget_s, seeds in sizes:
        for label in labels[1:]:
            ratios = {}
            for dataset in NAMES:
                key = {"dataset": dataset, "size": size, "budget_s": budget_s}
                aps = {}
                for model in (base, label):
                    rows = [
                        r
                        for r in results
                        if r["model"] == model
                        and r["seed"] < seeds
                        and all(r.get(k) == v for k, v in key.items())
                    ]
                    if rows:
                        aps[model] = statistics.median(r["AP"] for r in rows)
                if len(aps) == 2 and max(aps.values()) >= FLOOR and aps[base] > 0:
                    ratios[dataset] = aps[label] / aps[base]
            if ratios:
                shown = ", ".join(f"{d} {r:.2f}" for d, r in ratios.items())
                better = sum(r > 1 for r in ratios.values())
                print(
                    f"- {size} px, {label}: {geometric_mean(list(ratios.values())):.2f}x "
                    f"(better on {better} of {len(ratios)}: {shown})"
                )


def report(results: list[dict], labels: list[str], sizes) -> None:
    """Print the per-dataset tables and the geometric means of the ratios to YOLOv8n."""
    for size, budget_s, seeds in sizes:
        print(f"\n## {size} px, {budget_s:g} CPU s of training, seeds {list(range(seeds))}\n")
        print("| dataset | model | epochs | CPU s | AP median [range] | AP50 median [range] |")
        print("|---|---|---:|---:|---|---|")
        ratios: dict[str, list[float]] = {label: [] for label in labels}
        for dataset in NAMES:
            key = {"dataset": dataset, "size": size, "budget_s": budget_s}
            runs = [r for r in results if all(r.get(k) == v for k, v in key.items())]
            runs = [r for r in runs if r["seed"] < seeds]
            peer = [r for r in runs if r["model"] == "YOLOv8n"]
            peer_ap = statistics.median(r["AP"] for r in peer) if peer else None
            for label in ["YOLOv8n", *labels]:
                rows = [r for r in runs if r["model"] == label]
                if not rows:
                    continue
                ap = statistics.median(r["AP"] for r in rows)
                epochs = statistics.median(r.get("epochs") or 0 for r in rows)
                cpu = statistics.median(r.get("cpu_seconds") or 0 for r in rows)
                note = ""
                if label != "YOLOv8n" and peer_ap is not None:
                    if max(ap, peer_ap) < FLOOR:
                        note = " (both < 0.02: left out)"
                    else:
                        ratio = ap / peer_ap if peer_ap > 0 else math.inf
                        ratios[label].append(ratio)
                        note = f" ({ratio:.2f}x YOLOv8n)"
                print(
                    f"| {dataset} | {label}{note} | {epochs:.0f} | {cpu:.0f} | "
                    f"{spread(rows, 'AP')} | {spread(rows, 'AP50')} |"
                )
        for label, values in ratios.items():
            finite = [v for v in values if 0 < v < math.inf]
            if finite:
                geo = geometric_mean(finite)
                print(
                    f"- {label}: geometric mean of AP / YOLOv8n's {geo:.2f} over {len(finite)} "
                    f"datasets (lowest {min(finite):.2f}x)"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(NAMES))
    parser.add_argument(
        "--sizes", nargs="+", default=["128:120:3", "256:300:1"], help="SIZE:CPU_SECONDS:SEEDS"
    )
    parser.add_argument("--preset", default="tiny", help="the preset the variants start from")
    parser.add_argument(
        "--variant", action="append", default=[], help="NAME:key=value,... (default: the preset)"
    )
    parser.add_argument("--yolo-python", help="interpreter of a separate ultralytics environment")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "quality-results.jsonl"))
    parser.add_argument(
        "--also-read", nargs="*", default=[], help="more result files to report (read only)"
    )
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "nasdet-quality"))
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads per training process, both frameworks (0: each one's default: one for "
        "nasdet's train step on the CPU, one per core for torch)",
    )
    parser.add_argument("--report-only", action="store_true", help="print the cached results")
    parser.add_argument("--peer-only", action="store_true", help="run only the YOLOv8n peer")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.train.cpu_threads import DEFAULT_CPU_THREADS

    # Read when TensorFlow starts, before anything here imports it: the train step sets its
    # threads itself only in a process of its own, and this one ingests first.
    ours_threads = args.threads or DEFAULT_CPU_THREADS
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(ours_threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(ours_threads)
    sizes = [
        tuple(float(x) if i == 1 else int(x) for i, x in enumerate(s.split(":")))
        for s in args.sizes
    ]
    variants = [parse_variant(v) for v in args.variant] or [(args.preset, {})]
    if args.peer_only:
        variants = []
    labels = [name for name, _ in variants]
    results = load_results(args.results)
    for extra in args.also_read:
        results += load_results(extra)
    if not args.report_only:
        os.makedirs(args.work_dir, exist_ok=True)
        for dataset, source in datasets(args.datasets).items():
            examples = ingest(dataset, source, args.work_dir)
            data = None
            for size, budget_s, seeds in sizes:
                for seed in range(seeds):
                    key = {"dataset": dataset, "size": size, "budget_s": budget_s, "seed": seed}
                    # YOLOv8n rows name their threads when not torch's default; nasdet rows
                    # always do (rows without: TensorFlow's one per core, before the default).
                    peer_key = {**key, **({"threads": args.threads} if args.threads else {})}
                    ours_key = {**key, "threads": ours_threads}

                    def done(model, overrides=None, digest=None, key=peer_key):
                        return any(
                            r["model"] == model
                            and r.get("overrides") == overrides
                            and r.get("config_digest") == digest
                            and all(r.get(k) == v for k, v in key.items())
                            and r.get("threads", 0) == key.get("threads", 0)
                            for r in results
                        )

                    if args.yolo_python and not done("YOLOv8n"):
                        data = data or export_for_yolo(
                            examples, os.path.join(args.work_dir, f"{dataset}-yolo")
                        )
                        row = {
                            **peer_key,
                            "model": "YOLOv8n",
                            **yolo(args.yolo_python, data, size, budget_s, seed, args.threads),
                        }
                        append_result(args.results, row)
                        results.append(row)
                        print(json.dumps(row), flush=True)
                    for name, overrides in variants:
                        digest = config_digest(args.preset, overrides, size, examples)
                        if done(name, {"preset": args.preset, **overrides}, digest, ours_key):
                            continue
                        same = [
                            r
                            for r in results
                            if r.get("config_digest") == digest
                            and all(r.get(k) == v for k, v in key.items())
                            and r.get("threads", 0) == ours_threads
                        ]
                        if same:  # another label trained this very config: its result stands
                            row = {**same[0], "model": name, "same_config_as": same[0]["model"]}
                            row["overrides"] = {"preset": args.preset, **overrides}
                            append_result(args.results, row)
                            results.append(row)
                            print(json.dumps(row), flush=True)
                            continue
                        measured = train_eval(
                            examples, args.preset, overrides, size, budget_s, seed, args.work_dir
                        )
                        row = {**ours_key, "model": name, **measured}
                        row["overrides"] = {"preset": args.preset, **overrides}
                        row["config_digest"] = digest
                        append_result(args.results, row)
                        results.append(row)
                        print(json.dumps(row), flush=True)
    report(results, labels, sizes)
    if len(labels) > 1:
        ablation(results, labels, sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
