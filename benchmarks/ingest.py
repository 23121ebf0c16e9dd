"""Benchmark: the ingest step (Beam graph and in-process engine) against a plain Python loop.

All do the same work per image: read the bytes, decode and validate (``validate_image``),
serialise the tf.Example, and write sorted gzip TFRecord shards. Every trial runs in a fresh
process (so start-up costs count as a user sees them); CPU time includes Beam's worker processes.
Modes: ``plain`` (the loop below), ``in_process`` (the step's in-process engine), ``in_memory``
and ``multi_processing`` (the Beam graph on the FnApiRunner, 1 process / 2 workers), ``auto``
(the step's own choice, as ``nasdet ingest`` runs it).

Measured (median of ``--repeats``, default 3), in one run:
- steady-state images/s on a large input (coco128 + raccoon repeated to ~3,000 images), from the
  slope between a medium and the large input, and the fixed start-up cost (the intercept);
- the crossover size where Beam multi_processing beats the in-process engine, and the rates
  ``running_mode`` uses to choose between them;
- the total time on the bundled sample (200 images) with the default (automatic) running mode,
  and Beam's fixed cost there (in_memory).

Goals: the large input runs >= 1.3x the plain loop using both cores; the bundled sample is not
slower than 2x the plain loop. Without ../shared/datasets the bundled sample is repeated instead.

    python benchmarks/ingest.py [--repeats 3] [--large 3000] [--medium 600]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO / "components" / "data" / "sample" / "raccoon"
SHARED = REPO.parent / "shared" / "datasets"
_WORKERS = 2  # Beam multi_processing workers in the "multi_processing" mode
MODES = {
    "plain": None,
    "in_process": None,
    "in_memory": ["--direct_running_mode=in_memory"],
    "multi_processing": [
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={_WORKERS}",
    ],
    "auto": [],
}


def plain_loop(input_json: str, images_dir: str, out_dir: str) -> int:
    """Ingest with a plain Python loop (no Beam); return the number of accepted images."""
    import google_crc32c

    from components.data.labels import build_label_map
    from components.data.readers import read_dataset
    from components.data.validate import validate_image
    from components.ingest import split

    def masked(data: bytes) -> int:
        crc = google_crc32c.value(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    dataset = read_dataset("coco", input_json, images_dir=images_dir)
    label_map = build_label_map(dataset.classes)
    splits = split.assign_splits(dataset.images, 0.2)
    shards = {s: split.num_shards(splits.count(s)) for s in split.SPLITS}
    buckets: dict[tuple[str, int], list] = {}
    for split_name, image in zip(splits, dataset.images, strict=True):
        key = (split_name, split.shard_index(image.image_id, shards[split_name]))
        buckets.setdefault(key, []).append(image)
    accepted = 0
    for split_name, count in shards.items():
        for index in range(count):
            path = split.shard_path(out_dir, split_name, index, count)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            images = sorted(buckets.get((split_name, index), []), key=lambda i: i.image_id)
            with gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as handle:
                for image in images:
                    example = validate_image(image, label_map).example
                    if example is None:
                        continue
                    accepted += 1
                    length = len(example).to_bytes(8, "little")
                    handle.write(length + masked(length).to_bytes(4, "little"))
                    handle.write(example + masked(example).to_bytes(4, "little"))
    return accepted


def trial(mode: str, input_json: str, images_dir: str, out_dir: str) -> None:
    """Run one trial in this process and print ``{"accepted", "runner"}`` as JSON."""
    if mode == "plain":
        print(
            json.dumps({"accepted": plain_loop(input_json, images_dir, out_dir), "runner": "plain"})
        )
        return
    ingest_once(input_json, images_dir, out_dir, None if mode == "in_process" else MODES[mode])


def ingest_once(input_json: str, images_dir: str, out_dir: str, beam_args: list | None) -> None:
    """Ingest the COCO input with nasdet (in process without ``beam_args``); print
    ``{"accepted", "runner"}`` as JSON."""
    from components.ingest import run

    if beam_args is None:
        summary = run(input_json, "coco", out_dir, images_dir=images_dir, run_in_process=True)
    else:
        summary = run(input_json, "coco", out_dir, images_dir=images_dir, beam_args=beam_args)
    print(json.dumps({"accepted": summary["images"]["accepted"], "runner": summary["runner"]}))


def print_machine() -> None:
    """Print the usable cores and the load average: the context of every number below."""
    from components.ingest.cpus import usable_cpus

    load = os.getloadavg()
    print(
        f"cores: {usable_cpus()} (affinity, cgroup quota); load average at start: "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


def timed(
    mode: str,
    input_json: str,
    images_dir: str,
    work: pathlib.Path,
    script: str = __file__,
    extra: tuple[str, ...] = (),
) -> dict:
    """Run ``script --trial mode ...`` in a fresh process; return wall seconds, CPU seconds (of
    the process and its children), the output folder and the trial's JSON line."""
    out = work / f"out-{mode}-{time.monotonic_ns()}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, script, "--trial", mode, input_json, images_dir, str(out), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"trial {mode} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall": wall, "cpu": cpu, "out": out, **result}


def build_input(work: pathlib.Path, target: int) -> tuple[str, str, int]:
    """Write a COCO JSON of ``target`` images (symlinks to real files); return (json, dir, n)."""
    from components.data.readers import read_dataset

    sources = []
    if SHARED.is_dir():
        coco = SHARED / "coco128"
        sources.append(
            read_dataset(
                "coco",
                str(coco / "annotations" / "instances_train2017.json"),
                str(coco / "train2017"),
            )
        )
        sources.append(
            read_dataset(
                "voc", str(SHARED / "raccoon" / "annotations"), str(SHARED / "raccoon" / "images")
            )
        )
    else:
        sources.append(read_dataset("voc", str(SAMPLE / "annotations"), str(SAMPLE / "images")))
    categories, images, annotations, offset = [], [], [], 0
    pool = []
    for n, dataset in enumerate(sources):
        ids = {c.source_id: 1000 * n + c.source_id for c in dataset.classes}
        categories += [
            {"id": ids[c.source_id], "name": f"{c.name}" if n == 0 else f"{c.name}-{n}"}
            for c in dataset.classes
        ]
        pool += [(image, ids) for image in dataset.images]
    images_dir = work / f"images-{target}"
    images_dir.mkdir()
    for i in range(target):
        image, ids = pool[i % len(pool)]
        name = f"{i:05d}-{os.path.basename(image.path)}"
        (images_dir / name).symlink_to(os.path.abspath(image.path))
        images.append(
            {
                "id": i + 1,
                "file_name": name,
                "width": image.claimed_width,
                "height": image.claimed_height,
            }
        )
        for box in image.boxes:
            offset += 1
            bbox = [box.xmin, box.ymin, box.xmax - box.xmin, box.ymax - box.ymin]
            annotations.append(
                {
                    "id": offset,
                    "image_id": i + 1,
                    "category_id": ids[box.source_class_id],
                    "bbox": bbox,
                    "iscrowd": int(box.is_crowd),
                }
            )
    path = work / f"instances-{target}.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return str(path), str(images_dir), target


def median_of(mode: str, data: tuple[str, str, int], work: pathlib.Path, repeats: int) -> dict:
    """Return the median wall/CPU seconds of ``repeats`` trials of ``mode`` on ``data``."""
    runs = [timed(mode, data[0], data[1], work) for _ in range(repeats)]
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "accepted": runs[0]["accepted"],
        "runner": runs[0]["runner"],
        "out": runs[0]["out"],
    }


def same_records(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Return True when two Examples directories hold the same shards with the same records."""
    files = sorted(p.relative_to(a) for p in a.glob("Split-*/*.gz"))
    if files != sorted(p.relative_to(b) for p in b.glob("Split-*/*.gz")):
        return False
    return all(
        gzip.decompress((a / f).read_bytes()) == gzip.decompress((b / f).read_bytes())
        for f in files
    )


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", type=int, default=3000)
    parser.add_argument("--medium", type=int, default=600)
    parser.add_argument(
        "--trial", nargs=4, metavar=("MODE", "JSON", "IMAGES", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.trial:
        trial(*args.trial)
        return
    print_machine()
    with tempfile.TemporaryDirectory(prefix="nasdet-bench-") as tmp:
        work = pathlib.Path(tmp)
        sample = _sample_as_coco(work)
        medium = build_input(work, args.medium)
        large = build_input(work, args.large)
        rows = {}
        for name, data, modes in (
            ("sample", sample, ("plain", "auto", "in_memory")),
            ("medium", medium, ("plain", "in_process", "multi_processing")),
            ("large", large, ("plain", "in_process", "multi_processing", "auto")),
        ):
            for mode in modes:
                rows[(name, mode)] = median_of(mode, data, work, args.repeats)
                r = rows[(name, mode)]
                print(
                    f"  {name:<6} {mode:<16} {data[2]:>5} images  {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  ({r['runner']})",
                    flush=True,
                )
        identical = all(
            same_records(rows[("large", "plain")]["out"], rows[("large", mode)]["out"])
            for mode in ("in_process", "multi_processing")
        )
        _print_table(rows, {"sample": sample[2], "medium": medium[2], "large": large[2]}, identical)
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def _sample_as_coco(work: pathlib.Path) -> tuple[str, str, int]:
    """Write the bundled VOC sample as a COCO JSON (images symlinked); return (json, dir, n)."""
    from components.data.readers import read_dataset

    dataset = read_dataset("voc", str(SAMPLE / "annotations"), str(SAMPLE / "images"))
    images_dir = work / "sample-images"
    images_dir.mkdir()
    images, annotations = [], []
    for i, image in enumerate(dataset.images, start=1):
        (images_dir / os.path.basename(image.path)).symlink_to(os.path.abspath(image.path))
        images.append(
            {
                "id": i,
                "file_name": os.path.basename(image.path),
                "width": image.claimed_width,
                "height": image.claimed_height,
            }
        )
        for box in image.boxes:
            bbox = [box.xmin, box.ymin, box.xmax - box.xmin, box.ymax - box.ymin]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": box.source_class_id,
                    "bbox": bbox,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": c.source_id, "name": c.name} for c in dataset.classes]
    path = work / "sample.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return str(path), str(images_dir), len(images)


def _print_table(rows: dict, sizes: dict[str, int], identical: bool) -> None:
    n_medium, n_large = sizes["medium"], sizes["large"]
    plain_large = rows[("large", "plain")]
    print()
    print(
        f"{'input':<8}{'mode':<18}{'images':>7}{'wall s':>9}{'img/s':>8}{'cores':>7}{'vs plain':>10}"
    )
    for (name, mode), r in rows.items():
        n = sizes[name]
        plain = rows[(name, "plain")]
        ratio = plain["wall"] / r["wall"]
        print(
            f"{name:<8}{mode:<18}{n:>7}{r['wall']:>9.2f}{n / r['wall']:>8.1f}{r['cpu'] / r['wall']:>7.2f}{ratio:>9.2f}x"
        )
    print()
    print("steady state (slope between medium and large) and fixed start-up (intercept):")
    fits, cpu_fits = {}, {}
    for mode in ("plain", "in_process", "multi_processing"):
        medium, large = rows[("medium", mode)], rows[("large", mode)]
        rate = (n_large - n_medium) / (large["wall"] - medium["wall"])
        fits[mode] = (rate, medium["wall"] - n_medium / rate)
        cpu_ms = 1000 * (large["cpu"] - medium["cpu"]) / (n_large - n_medium)
        cpu_fits[mode] = (cpu_ms, medium["cpu"] - n_medium * cpu_ms / 1000)
        print(
            f"  {mode:<18} wall: {rate:6.1f} images/s ({rate / fits['plain'][0]:.2f}x plain), "
            f"start-up {fits[mode][1]:5.2f} s | CPU: {cpu_ms:5.2f} ms/image, "
            f"start-up {cpu_fits[mode][1]:5.2f} s"
        )
    (r_ip, s_ip), (r_mp, s_mp) = fits["in_process"], fits["multi_processing"]
    if r_mp > r_ip:
        crossover = (s_mp - s_ip) / (1 / r_ip - 1 / r_mp)
        print(f"  wall: multi_processing beats in_process above ~{max(crossover, 0):.0f} images")
    else:
        print("  wall: multi_processing never beats in_process here")
    from components.ingest import running_mode

    print(
        f"  measured vs running_mode's estimates: in process {r_ip:.0f} images/s "
        f"(uses {running_mode.IN_PROCESS_IMAGES_PER_S:.0f}), Beam {r_mp / _WORKERS:.0f} images/s per "
        f"worker (uses {running_mode.BEAM_IMAGES_PER_S_PER_WORKER:.0f}), Beam's extra start-up "
        f"{s_mp - s_ip:.1f} s (uses {running_mode.BEAM_EXTRA_START_S:.1f})"
    )
    auto = rows[("large", "auto")]
    print()
    print(
        f"goal 1: large input >= 1.3x plain, both cores: {plain_large['wall'] / auto['wall']:.2f}x, {auto['cpu'] / auto['wall']:.2f} cores ({auto['runner']})"
    )
    sample_ratio = rows[("sample", "auto")]["wall"] / rows[("sample", "plain")]["wall"]
    print(
        f"goal 2: bundled sample <= 2x plain: {sample_ratio:.2f}x the plain loop's time ({rows[('sample', 'auto')]['runner']})"
    )
    beam_extra = rows[("sample", "in_memory")]["wall"] - rows[("sample", "auto")]["wall"]
    print(f"Beam's fixed cost on the sample (in_memory minus auto, in process): {beam_extra:.2f} s")
    print(
        f"large input, plain loop, in_process and Beam multi_processing give the same records: {identical}"
    )


if __name__ == "__main__":
    main()
