"""The ingest Beam graph: source images -> validated examples, shards, quarantine and stats.

``IngestPlan`` is everything the graph needs, computed by the driver from the reader's output
(the images with their splits, the label map, shard counts, the reader's own quarantine records
and counts). ``build`` adds the transforms to a pipeline::

    SourceImages --GroupByShard--> ValidateAndWrite --> Split-*/data_tfrecord-*.gz
                                                   \\-> quarantine --+-- ReadTimeQuarantine --> quarantine.jsonl
                                                   \\-> stats ------+------------------------> stats.json (CombineFn)

Nothing here imports TensorFlow (checked by a test): Beam workers stay light.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from components.data import schema
from components.data.labels import LabelMap
from components.data.records import QuarantineRecord, SourceImage
from components.ingest import output
from components.ingest.transforms import (
    QUARANTINE_TAG,
    STATS_TAG,
    ValidateAndWriteShards,
    WriteQuarantine,
    WriteStats,
)


@dataclasses.dataclass
class IngestPlan:
    """What the graph writes and from what.

    ``root`` is the (temporary) output directory; ``items`` the ``(split, SourceImage)`` pairs;
    ``read_quarantine`` the reader's quarantine records; ``images_read``/``boxes_read`` the
    reader's counts; ``num_shards`` the shard count per split; ``stats_context`` what
    ``stats.to_stats_json`` copies into ``stats.json``.
    """

    root: str
    items: list[tuple[str, SourceImage]]
    label_map: LabelMap
    num_shards: dict[str, int]
    read_quarantine: list[QuarantineRecord]
    images_read: int
    boxes_read: int
    stats_context: dict


def build(pipeline: beam.Pipeline, plan: IngestPlan) -> dict:
    """Add the ingest transforms for ``plan`` to ``pipeline``; return the output PCollections.

    The returned dict has ``shards`` (one dict per written file), ``quarantine`` (the written
    path) and ``stats`` (the ``stats.json`` dict).
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
        | "WriteQuarantine" >> WriteQuarantine(output.join(plan.root, schema.QUARANTINE_FILE))
    )
    stats = (
        (validated[STATS_TAG], read_quarantine)
        | "StatsInputs" >> beam.Flatten()
        | "WriteStats"
        >> WriteStats(
            output.join(plan.root, schema.STATS_FILE),
            plan.images_read,
            plan.boxes_read,
            plan.stats_context,
        )
    )
    return {"shards": validated.shards, "quarantine": quarantine, "stats": stats}
