"""``run``: the ingest step, from labelled images to the Examples artifact.

The driver reads the annotations (``components.data.readers``; bad input raises ``UserError``
before anything is written), builds the label map, assigns splits and shard counts, then writes
the shards, ``quarantine.jsonl`` and ``stats.json`` into a staged output directory, with the Beam
graph of ``components.ingest.pipeline`` (a remote runner's workers write under a shared staging
folder, copied in afterwards) or, for small inputs, in process
(``components.ingest.in_process``; same functions, same bytes; see ``running_mode``), adds
``labels.json`` and ``report.md`` and moves the directory into place.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence

from components import files
from components.artifacts.examples import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    LABELS_FILE,
    SPLITS,
    STATS_FILE,
)
from components.data.labels import build_label_map, to_labels_json
from components.data.readers import read_dataset
from components.errors import UserError
from components.ingest import in_process, report, running_mode, split
from components.ingest.plan import IngestPlan

LOG = logging.getLogger("nasdet.ingest")


def run(
    input_path: str,
    fmt: str,
    output_dir: str,
    images_dir: str | None = None,
    classes_file: str | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    beam_args: Sequence[str] = (),
    run_in_process: bool | None = None,
) -> dict:
    """Ingest a COCO / VOC / YOLO dataset into the Examples artifact at ``output_dir``.

    Paths may be local or Beam file-system URIs (gs://, s3://).

    Args:
        input_path: the COCO instances JSON, or the VOC / YOLO label folder.
        fmt: the annotation format (a name of ``components.data.readers.FORMATS``).
        output_dir: where the Examples artifact is written (staged, then renamed into place).
        images_dir: the image folder (default: beside the labels).
        classes_file: the YOLO class names (a text file or an Ultralytics data YAML).
        val_fraction: the share of images hashed into ``val`` (where the search scores trials
            and training picks its epoch) when the source states no val split.
        test_fraction: the share hashed into ``test`` (what evaluate and the gate score) when
            the source states no test split.
        beam_args: Beam pipeline options (``--runner=...``); any of them selects Beam. A remote
            runner also needs ``--temp_location``, a folder or URI its workers share, unless
            ``output_dir`` is an object-store URI.
        run_in_process: forces the engine (None: chosen by input size, see ``running_mode``).

    Returns:
        A summary dict: ``output_dir``, ``images`` and ``boxes`` (read / accepted /
        quarantined), ``splits`` (accepted images per split), ``shards`` (files per split),
        ``classes`` (K), ``runner`` (the running-mode line) and ``seconds``.

    Raises:
        UserError: bad input or options (nothing is written then).
    """
    started = time.monotonic()
    val_fraction, test_fraction = split.check_fractions(val_fraction, test_fraction)
    dataset = read_dataset(fmt, input_path, images_dir=images_dir, classes_file=classes_file)
    label_map = build_label_map(dataset.classes)
    splits = split.assign_splits(dataset.images, val_fraction, test_fraction)
    assigned = Counter(splits)
    num_shards = {name: split.num_shards(assigned[name]) for name in SPLITS}
    mode = running_mode.choose(beam_args, len(dataset.images), in_process=run_in_process)
    LOG.info(
        "ingest: %d images, %d classes: %s",
        len(dataset.images),
        label_map.num_classes,
        mode.description,
    )
    split_source = "source" if any(image.split for image in dataset.images) else "hash"
    with files.staged_output(output_dir, last=(STATS_FILE,)) as root:
        plan = IngestPlan(
            root=root,
            items=list(zip(splits, dataset.images, strict=True)),
            label_map=label_map,
            num_shards=num_shards,
            read_quarantine=list(dataset.quarantine),
            images_read=dataset.images_read,
            boxes_read=dataset.boxes_read,
            stats_context={
                "classes": label_map.names,
                "num_shards": num_shards,
                "val_fraction": val_fraction,
                "test_fraction": test_fraction,
                "split_source": split_source,
            },
        )
        if mode.engine == running_mode.IN_PROCESS:
            in_process.run(plan)
        else:
            _run_beam(mode, plan, output_dir)
        stats = json.loads(files.read_bytes(files.join(root, STATS_FILE)))
        _check(stats)
        fractions = {"train": 1.0, "val": val_fraction, "test": test_fraction}
        for name, split_stats in stats["splits"].items():
            if split_stats["images"] == 0 and fractions.get(name, 1.0) > 0:
                LOG.warning("ingest: warning: split %r has no images", name)
        labels = json.dumps(to_labels_json(label_map), indent=2) + "\n"
        files.write_bytes(files.join(root, LABELS_FILE), labels.encode("utf-8"))
        report.write_report(stats, root)
    return {
        "output_dir": output_dir,
        "images": stats["images"],
        "boxes": stats["boxes"],
        "splits": {name: stats["splits"][name]["images"] for name in SPLITS},
        "shards": num_shards,
        "classes": label_map.num_classes,
        "runner": mode.description,
        "seconds": round(time.monotonic() - started, 2),
    }


def _run_beam(mode: running_mode.RunningMode, plan: IngestPlan, output_dir: str) -> None:
    """Run the Beam graph for ``plan``; a remote runner's graph writes under its staging folder.

    Remote workers cannot write the step's local output folder, so their graph writes under a
    new folder of ``--temp_location`` (shared with the workers); its files are then copied into
    ``plan.root`` and the folder removed. Without ``--temp_location`` a remote runner needs an
    object-store ``output_dir`` (the staged output is then already reachable by the workers).
    """
    from components.ingest import pipeline

    staging = None
    if mode.remote and mode.temp_location:
        staging = files.join(mode.temp_location, f"nasdet-ingest-{uuid.uuid4().hex[:12]}")
    elif mode.remote and not files.is_remote(output_dir):
        raise UserError(
            f"{mode.description}: remote workers cannot write the local folder {output_dir}; "
            f"add --beam-arg=--temp_location=DIR with a folder every worker mounts (a shared "
            f"volume) or an object-store URI (gs://, s3://)"
        )
    graph_plan = dataclasses.replace(plan, root=staging) if staging else plan
    try:
        beam_pipeline = running_mode.make_pipeline(mode.beam_args)
        pipeline.build(beam_pipeline, graph_plan)
        result = beam_pipeline.run()
        try:
            state = result.wait_until_finish()
        finally:
            client = getattr(result, "client", None)  # the DaskRunner's connection
            if client is not None:
                client.close()
        if state != "DONE":
            raise RuntimeError(f"the Beam job ended in state {state}")
        if staging:
            copied = files.copy_tree(staging, plan.root)
            LOG.info("ingest: %d files copied from the staging folder %s", copied, staging)
    finally:
        if staging:
            files.remove_tree(staging)


def _check(stats: dict) -> None:
    """Refuse a dataset where no image passed validation; fail loudly if counts do not reconcile."""
    if not stats["reconciled"]:
        raise RuntimeError(
            f"ingest counts do not reconcile: images {stats['images']}, boxes {stats['boxes']}"
        )
    if stats["images"]["accepted"] == 0:
        reasons = ", ".join(
            f"{q['reason']} ({q['records']})" for q in stats["quarantine"] if q["kind"] == "image"
        )
        raise UserError(
            f"no image passed validation: {stats['images']['read']} read, all quarantined: {reasons}"
        )
