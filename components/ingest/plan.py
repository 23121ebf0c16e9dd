"""``IngestPlan``: what the ingest engines (the Beam graph, the in-process runner) write and from what."""

from __future__ import annotations

import dataclasses

from components.data.labels import LabelMap
from components.data.records import QuarantineRecord, SourceImage


@dataclasses.dataclass
class IngestPlan:
    """Everything an engine needs, computed by the driver from the reader's output.

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
