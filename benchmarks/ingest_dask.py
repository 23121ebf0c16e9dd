"""Benchmark: ingestion on a Dask cluster with 2 worker processes against the in-process engine.

Both ingest the same large input (coco128 + raccoon repeated to ``--images``, default 3,000;
the bundled sample repeated when ``../shared/datasets`` is absent), each trial in a fresh
driver process, as ``nasdet ingest`` runs it. The Dask cluster
(``dask.distributed.LocalCluster``, 2 worker processes of 1 thread on 127.0.0.1) is started
once before the trials, as a user's cluster would already be running; its start-up is reported
apart. CPU time counts the driver and, for Dask, the workers' CPU during the trial.

Printed: the median wall and CPU seconds of ``--repeats`` trials (default 3, interleaved), the
ratio, whether the records are byte-identical, and what the measurement predicts per added node:
the Dask job's fixed part (a 1-image job on the same cluster) plus its CPU cost per image, which
divides over the cores of the nodes (CPU time, since wall time on a shared machine moves with
other load).

    .venv/bin/python benchmarks/ingest_dask.py [--repeats 3] [--images 3000]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import ingest as ingest_bench  # noqa: E402
from benchmarks.ingest import build_input, ingest_once, print_machine, same_records  # noqa: E402

DASK_RUNNER = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"
WORKERS = 2


def trial(mode: str, input_json: str, images_dir: str, out_dir: str, extra: str) -> None:
    """Ingest in this process; print ``{"accepted", "runner"}`` as JSON.

    ``mode`` in_process | dask; for dask, ``extra`` is ``<scheduler address>,<staging dir>``.
    """
    beam_args = None
    if mode != "in_process":
        address, staging = extra.split(",", 1)
        beam_args = [DASK_RUNNER, f"--dask_client_address={address}", f"--temp_location={staging}"]
    ingest_once(input_json, images_dir, out_dir, beam_args)


def _worker_cpu(client) -> float:
    """CPU seconds the cluster's worker processes have used so far."""

    def used() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    return sum(client.run(used).values())


def timed(mode: str, data: tuple[str, str, int], work: pathlib.Path, cluster=None) -> dict:
    """Run one trial in a fresh driver process; return wall and CPU seconds (the cluster's
    worker processes included) and the output."""
    if cluster is None:
        return ingest_bench.timed(mode, data[0], data[1], work, __file__, ("-",))
    staging = work / f"staging-{time.monotonic_ns()}"
    staging.mkdir()
    workers_before = _worker_cpu(cluster["client"])
    extra = (f"{cluster['address']},{staging}",)
    result = ingest_bench.timed(mode, data[0], data[1], work, __file__, extra)
    result["cpu"] += _worker_cpu(cluster["client"]) - workers_before
    return result


def medians(runs: list[dict]) -> dict:
    """The median wall and CPU seconds of ``runs``, with the first run's output."""
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "accepted": runs[0]["accepted"],
        "runner": runs[0]["runner"],
        "out": runs[0]["out"],
    }


def main() -> None:
    """Run the benchmark and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument(
        "--trial",
        nargs=5,
        metavar=("MODE", "JSON", "IMAGES", "OUT", "EXTRA"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args()
    if args.trial:
        trial(*args.trial)
        return
    from dask import distributed

    print_machine()
    with tempfile.TemporaryDirectory(prefix="nasdet-bench-dask-") as tmp:
        work = pathlib.Path(tmp)
        large = build_input(work, args.images)
        one = build_input(work, 1)
        start = time.perf_counter()
        with (
            distributed.LocalCluster(
                n_workers=WORKERS,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as local_cluster,
            distributed.Client(local_cluster) as client,
        ):
            cluster_start = time.perf_counter() - start
            print(
                f"  Dask LocalCluster, {WORKERS} worker processes, started in {cluster_start:.1f} s"
            )
            cluster = {"address": local_cluster.scheduler_address, "client": client}
            runs: dict[str, list[dict]] = {"in_process": [], "dask": [], "fixed": []}
            for _ in range(args.repeats):  # interleaved, so drifting load hits all alike
                for name, mode, data, on in (
                    ("in_process", "in_process", large, None),
                    ("dask", "dask", large, cluster),
                    ("fixed", "dask", one, cluster),
                ):
                    r = timed(mode, data, work, on)
                    runs[name].append(r)
                    print(
                        f"  {mode:<10} {data[2]:>5} images  {r['wall']:7.2f} s  "
                        f"cpu {r['cpu']:7.2f} s",
                        flush=True,
                    )
        in_process, dask, fixed = (medians(runs[k]) for k in ("in_process", "dask", "fixed"))
        identical = same_records(in_process["out"], dask["out"])
    _print_summary(args.images, in_process, dask, fixed, identical)
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def _print_summary(n: int, in_process: dict, dask: dict, fixed: dict, identical: bool) -> None:
    print()
    print(f"{'engine':<34}{'images':>7}{'wall s':>9}{'img/s':>8}{'cores':>7}")
    for name, r in (
        ("in process", in_process),
        (f"Dask, {WORKERS} worker processes", dask),
        ("Dask, 1 image (fixed cost)", fixed),
    ):
        images = 1 if r is fixed else n
        print(
            f"{name:<34}{images:>7}{r['wall']:>9.2f}{images / r['wall']:>8.1f}{r['cpu'] / r['wall']:>7.2f}"
        )
    print()
    print(f"Dask / in process, wall: {in_process['wall'] / dask['wall']:.2f}x the in-process speed")
    print(f"records byte-identical to in process: {identical} ({dask['accepted']} accepted)")
    # CPU seconds are less disturbed than wall seconds by other load on a shared machine, so
    # the per-node prediction uses them: the per-image CPU cost divides over the cores.
    dask_ms = 1000 * max(dask["cpu"] - fixed["cpu"], 0.0) / n
    local_ms = 1000 * in_process["cpu"] / n
    print(
        f"CPU per image: in process {local_ms:.1f} ms, Dask {dask_ms:.1f} ms "
        f"({dask_ms / max(local_ms, 1e-9):.2f}x; Beam's per-element overhead and the shuffle "
        f"between workers); Dask's fixed cost {fixed['wall']:.1f} s wall per job"
    )
    local_s = n * local_ms / 1000 / max(in_process["cpu"] / in_process["wall"], 1.0)
    print(f"predicted in process (one pod, the cores it used here): {local_s:6.1f} s")
    for nodes in (1, 2, 4, 8):
        cores = WORKERS * nodes
        predicted = fixed["wall"] + n * dask_ms / 1000 / cores
        print(
            f"  predicted on Dask with {nodes} node(s) of {WORKERS} cores: {predicted:6.1f} s "
            f"({local_s / predicted:.2f}x in process), if reading the images scales with them"
        )


if __name__ == "__main__":
    main()
