"""Benchmark: a distributed search with 2 workers against 1 worker, on the same trials.

Both run KerasTuner's distributed mode the way the search step runs it (a chief oracle process
and worker processes on 127.0.0.1) with the same seed, so the random oracle proposes the same
``--trials`` points (checked, not assumed); the trials train on the bundled sample. Each
configuration runs ``--repeats`` times (default 3) in a fresh work folder.

Printed: median wall and CPU seconds, the speed-up of 2 workers over 1, how busy the trials
kept the cores, and what the measurement predicts per added node: the 1-worker run is split
into a fixed part (chief and worker start-up, wall time outside any trial) and the median
trial time, and a search of ``--trials`` trials on ``k`` nodes of one worker each is predicted
as ``fixed + ceil(trials / k) * trial time``. On this 2-core machine the workers share the
cores, so little or no gain is expected here.

    .venv/bin/python benchmarks/search_workers.py [--repeats 3] [--trials 4] [--epochs 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.search import ingest_sample  # noqa: E402


def children_cpu() -> float:
    """CPU seconds used so far by this process's finished children (the search processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_search(examples: str, work: pathlib.Path, workers: int, args) -> dict:
    """Run one distributed search; return wall/CPU seconds, trial times and proposed points."""
    from components.search import run
    from components.search.tuners import read_events

    out = work / f"search-{workers}w-{time.monotonic_ns()}"
    cpu, start = children_cpu(), time.perf_counter()
    summary = run(
        examples,
        str(out),
        max_trials=args.trials,
        epochs=args.epochs,
        workers=workers,
        seed=args.seed,
        train_images=args.train_images,
        eval_images=args.eval_images,
    )
    wall = time.perf_counter() - start
    cpu = children_cpu() - cpu
    if summary["distributed"]["worker_exits"] != [0] * workers:
        raise SystemExit(f"a worker failed: {summary['distributed']}")
    events = read_events(os.path.join(summary["work_dir"], "search"))
    begins = {e["trial_id"]: e["time"] for e in events if e["event"] == "begin"}
    durations = [e["time"] - begins[e["trial_id"]] for e in events if e["event"] == "end"]
    with open(out / "trials.csv", newline="") as f:
        trial_rows = list(csv.DictReader(f))
    if any(row["status"] != "COMPLETED" for row in trial_rows):
        raise SystemExit(f"a trial did not complete: {trial_rows}")
    points = sorted(row["values"] for row in trial_rows)
    return {
        "wall": wall,
        "cpu": cpu,
        "trial_s": durations,
        "points": points,
        "by_tuner": summary["distributed"].get("trials_by_tuner", {}),
    }


def main() -> None:
    """Run the benchmark and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--eval-images", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.ingest.cpus import usable_cpus

    load = os.getloadavg()
    print(
        f"cores: {usable_cpus()}; load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    rows: dict[int, list[dict]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="nasdet-bench-search-") as tmp:
        work = pathlib.Path(tmp)
        examples = ingest_sample(str(work / "examples"), eval_fraction=0.2)
        for _ in range(args.repeats):
            for workers in (1, 2):  # interleaved, so drifting load hits both alike
                r = one_search(examples, work, workers, args)
                rows[workers].append(r)
                print(
                    f"  {workers} worker(s): {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU, "
                    f"trials {', '.join(f'{t:.0f}' for t in r['trial_s'])} s, "
                    f"by tuner {json.dumps(r['by_tuner'])}",
                    flush=True,
                )
    _print_summary(rows, args.trials)
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def _print_summary(rows: dict[int, list[dict]], trials: int) -> None:
    points = {tuple(r["points"]) for runs in rows.values() for r in runs}
    med = {
        w: {
            "wall": statistics.median(r["wall"] for r in runs),
            "cpu": statistics.median(r["cpu"] for r in runs),
            "trial": statistics.median(t for r in runs for t in r["trial_s"]),
            "busy": statistics.median(sum(r["trial_s"]) / r["wall"] for r in runs),
        }
        for w, runs in rows.items()
    }
    print()
    print(f"{'workers':<9}{'wall s':>9}{'CPU s':>9}{'cores':>7}{'trial s':>9}{'trial-s/wall':>14}")
    for w, m in med.items():
        print(
            f"{w:<9}{m['wall']:>9.1f}{m['cpu']:>9.1f}{m['cpu'] / m['wall']:>7.2f}"
            f"{m['trial']:>9.1f}{m['busy']:>14.2f}"
        )
    print()
    print(f"same {trials} trials in every run (the same proposed points): {len(points) == 1}")
    print(f"2 workers / 1 worker, wall: {med[1]['wall'] / med[2]['wall']:.2f}x the speed")
    fixed = med[1]["wall"] - trials * med[1]["trial"]
    print(
        f"model from the 1-worker runs: {fixed:.1f} s fixed (start-up, outside trials) + "
        f"{med[1]['trial']:.1f} s per trial on a whole machine"
    )
    for nodes in (1, 2, 4):
        predicted = fixed + math.ceil(trials / nodes) * med[1]["trial"]
        print(
            f"  predicted on {nodes} node(s) of this machine's size, one worker each: "
            f"{predicted:6.1f} s ({med[1]['wall'] / predicted:.2f}x one worker)"
        )


if __name__ == "__main__":
    main()
