"""The in-process ingest engine: the Beam graph's work in this process, without Beam.

Beam's fixed cost (about 2 s in one process, 5 s with worker processes: importing Beam, starting
workers, building and running the graph) is several times the whole work on a few hundred
images, so the step runs the same functions (``shard_work``) here, without importing Beam for
local paths, when ``running_mode`` says so. Shards are written by up to ``SHARD_THREADS``
threads at once (each with its own decoding threads; Pillow and zlib release the GIL), so the
cores are used without worker processes. The output is byte-identical to the Beam graph's
(checked by a test): each shard's file depends only on its images, and the statistics and the
quarantine file do not depend on the order shards finish.
"""

from __future__ import annotations

import concurrent.futures

from components import files
from components.artifacts.examples import QUARANTINE_FILE, STATS_FILE
from components.ingest import shard_work, stats
from components.ingest.cpus import usable_cpus
from components.ingest.plan import IngestPlan

SHARD_THREADS = min(8, usable_cpus())


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

    def write(key: tuple[str, int]) -> shard_work.ShardOutcome:
        return shard_work.write_shard(plan.root, key, groups[key], plan.label_map, plan.num_shards)

    # Largest shards first keeps the threads evenly busy; results are folded in key order.
    by_size = sorted(groups, key=lambda key: -len(groups[key]))
    with concurrent.futures.ThreadPoolExecutor(
        min(SHARD_THREADS, len(groups)), thread_name_prefix="shard"
    ) as pool:
        outcomes = dict(zip(by_size, pool.map(write, by_size), strict=True))
    for key in groups:
        quarantine.extend(outcomes[key].quarantine)
        for image_stats in outcomes[key].image_stats:
            stats.add(accumulator, image_stats)
    shard_work.write_quarantine(
        [shard_work.quarantine_line(record) for record in quarantine],
        files.join(plan.root, QUARANTINE_FILE),
    )
    return shard_work.write_stats(
        accumulator,
        files.join(plan.root, STATS_FILE),
        plan.images_read,
        plan.boxes_read,
        plan.stats_context,
    )
