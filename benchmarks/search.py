"""Benchmark the architecture search on the bundled sample, at an equal CPU-time budget.

Two questions, answered with measured numbers:

1. Does the architecture found by a search beat the default ``tiny`` architecture when both are
   trained the same way (same epochs, same batch size, same data) and scored the same way
   (COCO AP / AP50 on the eval split, the search objective's own code)?
2. Hyperband against random search: with the same CPU-time budget, how many trials does each
   run, and how good is the best architecture each finds (AP, FLOPs)?

Each search is run in budget slices through the step's resume: ``run(max_trials=k)`` on the
same output for k = 1, 2, ... until the process CPU time spent on that search reaches the
budget (the last trial may overshoot; the real CPU time is reported). CPU time is the
process's user + system time (all threads). Several seeds give medians.

    .venv/bin/python benchmarks/search.py --budget-cpu-s 600 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO / "components" / "data" / "sample" / "raccoon"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ingest_sample(out_dir: str, eval_fraction: float) -> str:
    """Ingest the bundled VOC sample into an Examples artifact; return its directory."""
    from components.ingest import run as ingest

    ingest(
        str(SAMPLE / "annotations"),
        "voc",
        out_dir,
        images_dir=str(SAMPLE / "images"),
        eval_fraction=eval_fraction,
    )
    return out_dir


def budgeted_search(examples: str, work: str, algorithm: str, seed: int, args) -> dict:
    """Run one search until ``args.budget_cpu_s`` CPU seconds are spent; return its numbers."""
    from components.search import run

    out = os.path.join(work, f"{algorithm}-seed{seed}")
    epochs = args.trial_epochs * (args.hyperband_factor if algorithm == "hyperband" else 1)
    start_cpu, start_wall = cpu_seconds(), time.time()
    trials = 0
    summary: dict = {}
    while cpu_seconds() - start_cpu < args.budget_cpu_s and trials < args.max_trials:
        trials += 1
        summary = run(
            examples,
            out,
            algorithm=algorithm,
            max_trials=trials,
            epochs=epochs,
            seed=seed,
            objective=args.objective,
        )
        print(
            f"  {algorithm} seed {seed}: {summary['trials']} trials, "
            f"{cpu_seconds() - start_cpu:.0f} CPU s, best {args.objective} "
            f"{summary['score']:.4f}",
            flush=True,
        )
    cpu, wall = cpu_seconds() - start_cpu, time.time() - start_wall
    return {
        "algorithm": algorithm,
        "seed": seed,
        "trials": summary["trials"],
        "completed": summary["status_counts"].get("COMPLETED", 0),
        "cpu_s": cpu,
        "wall_s": wall,
        "trials_per_cpu_hour": summary["trials"] / (cpu / 3600.0),
        "trials_per_wall_hour": summary["trials"] / (wall / 3600.0),
        "search_best_score": summary["score"],
        "architecture": summary["architecture"],
    }


def train_and_score(examples: str, config, epochs: int, batch_size: int, seed: int) -> dict:
    """Train ``config`` for ``epochs`` like a search trial and score it on the eval split."""
    import keras

    from components.artifacts.examples import TRAIN_SPLIT, count_records
    from components.data import input_pipeline
    from components.detector.flops import count_macs
    from components.metrics.detector_ap import coco_metrics
    from components.training.builder import build_trainer

    keras.utils.set_random_seed(seed)
    n_train = count_records(examples, TRAIN_SPLIT)
    batch = min(batch_size, n_train)
    steps = max(n_train // batch, 1)
    start_cpu = cpu_seconds()
    trainer = build_trainer(config, steps, epochs, batch)
    data = input_pipeline.make_dataset(
        examples, TRAIN_SPLIT, config.image_size, batch, True, seed=seed
    )
    history = trainer.fit(data, epochs=epochs, verbose=0)
    metrics = coco_metrics(trainer.detector, config, examples)
    return {
        "AP": metrics["AP"],
        "AP50": metrics["AP50"],
        "FLOPs": float(count_macs(trainer.detector)),
        "params": int(trainer.detector.count_params()),
        "final_loss": float(history.history["loss"][-1]),
        "train_cpu_s": cpu_seconds() - start_cpu,
    }


def median(values) -> float:
    """Median of the finite values (NaN when there are none)."""
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def main(argv=None) -> int:
    """Run the benchmark and print the comparison tables; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", help="Examples artifact (default: ingest the bundled sample)")
    parser.add_argument("--work", help="working directory (default: a temporary one)")
    parser.add_argument("--budget-cpu-s", type=float, default=240.0, help="CPU s per search")
    parser.add_argument("--max-trials", type=int, default=100, help="cap on trials per search")
    parser.add_argument("--trial-epochs", type=int, default=5, help="epochs per random trial")
    parser.add_argument(
        "--hyperband-factor",
        type=int,
        default=3,
        help="Hyperband's max epochs = this x --trial-epochs",
    )
    parser.add_argument("--eval-fraction", type=float, default=0.3, help="for the sample ingest")
    parser.add_argument("--final-epochs", type=int, default=10, help="epochs of the comparison")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--objective", default="AP50", choices=("AP", "AP50"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = args.work or tempfile.mkdtemp(prefix="nasdet-bench-search-")
    examples = args.examples or ingest_sample(os.path.join(work, "examples"), args.eval_fraction)
    from components.artifacts.examples import read_labels
    from components.detector.config_load import get_preset, load_architecture

    num_classes = len(read_labels(examples)["classes"])
    searches, finals = [], []
    for seed in args.seeds:
        print(f"seed {seed}: tiny baseline, {args.final_epochs} epochs", flush=True)
        tiny = get_preset("tiny").replace(num_classes=num_classes)
        finals.append(
            {"arch": "tiny", "seed": seed}
            | train_and_score(examples, tiny, args.final_epochs, args.batch_size, seed)
        )
        for algorithm in ("random", "hyperband"):
            print(f"seed {seed}: {algorithm} search, {args.budget_cpu_s:.0f} CPU s", flush=True)
            result = budgeted_search(examples, work, algorithm, seed, args)
            searches.append(result)
            config = load_architecture(result["architecture"])
            finals.append(
                {"arch": f"{algorithm}-best", "seed": seed}
                | train_and_score(examples, config, args.final_epochs, args.batch_size, seed)
            )

    print()
    print(
        f"Searches (budget {args.budget_cpu_s:.0f} CPU s each, objective {args.objective}, "
        f"trial epochs {args.trial_epochs}, "
        f"Hyperband max epochs {args.hyperband_factor * args.trial_epochs}):"
    )
    print(
        "| algorithm | seed | trials | completed | CPU s | wall s | trials/CPU h | trials/wall h "
        "| best score in search |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in searches:
        print(
            f"| {s['algorithm']} | {s['seed']} | {s['trials']} | {s['completed']} | "
            f"{s['cpu_s']:.0f} | {s['wall_s']:.0f} | {s['trials_per_cpu_hour']:.1f} | "
            f"{s['trials_per_wall_hour']:.1f} | {s['search_best_score']:.4f} |"
        )
    print()
    print(
        f"Retrained {args.final_epochs} epochs, batch {args.batch_size}, scored on the eval split:"
    )
    print("| architecture | seed | AP | AP50 | MFLOPs | params | final loss | train CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for f in finals:
        print(
            f"| {f['arch']} | {f['seed']} | {f['AP']:.4f} | {f['AP50']:.4f} | "
            f"{f['FLOPs'] / 1e6:.1f} | {f['params']} | {f['final_loss']:.3f} | "
            f"{f['train_cpu_s']:.0f} |"
        )
    if len(args.seeds) > 1:
        print()
        print("Medians over seeds:")
        for arch in ("tiny", "random-best", "hyperband-best"):
            rows = [f for f in finals if f["arch"] == arch]
            print(
                f"  {arch}: AP {median(r['AP'] for r in rows):.4f}, "
                f"AP50 {median(r['AP50'] for r in rows):.4f}, "
                f"MFLOPs {median(r['FLOPs'] for r in rows) / 1e6:.1f}"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "searches": searches, "finals": finals}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
