"""The ingest Beam graph: source images -> validated examples, shards, quarantine and stats.

``IngestPlan`` (``components.ingest.plan``) is everything the graph needs, computed by the driver
from the reader's output. ``build`` adds the transforms to a pipeline::

    SourceImages --GroupByShard--> ValidateAndWrite --> Split-*/data_tfrecord-*.gz
                                                   \\-> quarantine --+-- ReadTimeQuarantine --> quarantine.jsonl
                                                   \\-> stats ------+------------------------> stats.json (CombineFn)

Nothing here imports TensorFlow (checked by a test): Beam workers stay light.
"""

from __future__ import annotations

import apache_beam as beam

from components import files
from components.artifacts.examples import QUARANTINE_FILE, STATS_FILE
from components.ingest.plan import IngestPlan
from components.ingest.transforms import (
    QUARANTINE_TAG,
    SHARDS,
    STATS_TAG,
    ValidateAndWriteShards,
    WriteQuarantine,
    WriteStats,
)


def build(pipeline: beam.Pipeline, plan: IngestPlan) -> dict:
    """Add the ingest transforms for ``plan`` to ``pipeline``; return the output PCollections.

    The returned dict has ``shards`` (one dict per written file), ``quarantine`` (the written
    path), ``stats`` (the ``stats.json`` dict) and ``written`` (how many files were written: the
    graph's one sink, added last).
    """
    validated = (
        pipeline
        | "SourceImages" >> beam.Create(plan.items, reshuffle=False)
        | "ValidateAndWriteShards"
        >> ValidateAndWriteShards(plan.root, plan.label_map, plan.num_shards)
    )
    read_quarantine = pipeline | "ReadTimeQuarantine" >> beam.Create(plan.read_quarantine)
    quarantine = (
        (validated[QUARANTINE_TAG], read_quarantine)
        | "AllQuarantine" >> beam.Flatten()
        | "WriteQuarantine" >> WriteQuarantine(files.join(plan.root, QUARANTINE_FILE))
    )
    stats = (
        (validated[STATS_TAG], read_quarantine)
        | "StatsInputs" >> beam.Flatten()
        | "WriteStats"
        >> WriteStats(
            files.join(plan.root, STATS_FILE),
            plan.images_read,
            plan.boxes_read,
            plan.stats_context,
        )
    )
    # One sink that depends on every output: Beam 2.77's DaskRunner computes only the last
    # transform of the graph and what it depends on, so a side branch would never be written.
    written = (
        (
            validated[SHARDS] | "ShardPaths" >> beam.Map(lambda file: file["path"]),
            quarantine,
            stats | "StatsPath" >> beam.Map(lambda _: STATS_FILE),
        )
        | "AllOutputs" >> beam.Flatten()
        | "CountWritten" >> beam.combiners.Count.Globally().without_defaults()
    )
    return {
        "shards": validated[SHARDS],
        "quarantine": quarantine,
        "stats": stats,
        "written": written,
    }
