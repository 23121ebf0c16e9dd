"""The in-process ingest engine: the Beam graph's work as a plain loop, for small inputs.

Beam's fixed cost (about 2 s: importing Beam, building and running the graph) is several times
the whole work on a few hundred images, so below ``running_mode.MULTI_PROCESSING_MIN_IMAGES`` the
step runs the same functions (``shard_work``) in this process, without importing Beam for local
paths. The output is byte-identical to the Beam graph's (checked by a test).
"""

from __future__ import annotations

from components.data import schema
from components.ingest import output, shard_work, stats
from components.ingest.plan import IngestPlan


def run(plan: IngestPlan) -> dict:
    """Write the shards, ``quarantine.jsonl`` and ``stats.json`` of ``plan``; return the stats."""
    groups: dict[tuple[str, int], list] = {
        key: [] for key in shard_work.shard_keys(plan.num_shards)
    }
    for item in plan.items:
        key, image = shard_work.key_by_shard(item, plan.num_shards)
        groups[key].append(image)
    accumulator = stats.empty_accumulator()
    quarantine = list(plan.read_quarantine)
    for record in plan.read_quarantine:
        stats.add(accumulator, record)
    for key, images in groups.items():
        outcome = shard_work.write_shard(plan.root, key, images, plan.label_map, plan.num_shards)
        quarantine.extend(outcome.quarantine)
        for image_stats in outcome.image_stats:
            stats.add(accumulator, image_stats)
    shard_work.write_quarantine(
        [shard_work.quarantine_line(record) for record in quarantine],
        output.join(plan.root, schema.QUARANTINE_FILE),
    )
    return shard_work.write_stats(
        accumulator,
        output.join(plan.root, schema.STATS_FILE),
        plan.images_read,
        plan.boxes_read,
        plan.stats_context,
    )
