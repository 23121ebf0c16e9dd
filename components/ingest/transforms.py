"""The Beam building blocks of the ingest pipeline: DoFns and PTransforms over ``shard_work``.

- ``ValidateAndWriteShards``: source images are grouped by shard (a hash of the image id); each
  shard's images are validated in image-id order (bytes read through Beam's ``FileSystems`` for
  URIs) and written as one gzip TFRecord file (``shard_work.write_shard``), so reruns produce
  byte-identical files on any runner (Beam's ``WriteToTFRecord`` assigns records to shards
  round-robin from a random start, which is not reproducible). Empty shards are written too, so
  the file set depends only on the input size. Outputs: the written files, an ``ImageStats`` per
  image and the ``QuarantineRecord`` s, each its own PCollection, fanned out from one
  ``ShardOutcome`` per shard (not tagged outputs of the ``ParDo``: Beam 2.77's ``DaskRunner``
  hands every output of a multi-output ``ParDo`` to each consumer).
- ``WriteQuarantine``: one JSON line per record, sorted, in ``quarantine.jsonl``.
- ``StatsCombineFn`` / ``WriteStats``: the statistics accumulator of ``stats`` as a Beam
  ``CombineFn``, turned into ``stats.json``.

Nothing here imports TensorFlow: the workers only need Beam, Pillow and ``components``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import apache_beam as beam

from components.data.labels import LabelMap
from components.data.records import QuarantineRecord
from components.ingest import shard_work, stats

SHARDS = "shards"
QUARANTINE_TAG = "quarantine"
STATS_TAG = "stats"


class ValidateAndWriteShardFn(beam.DoFn):
    """Validate the images of one shard in image-id order and write them to its gzip TFRecord file.

    Input: ``((split, shard), iterable of SourceImage or None)`` (None: the empty-shard marker).
    Output: one ``shard_work.ShardOutcome`` (the written file's summary, one ``ImageStats`` per
    image, the ``QuarantineRecord`` s). Image bytes are read (through Beam's ``FileSystems`` for
    URIs), decoded and written by the same worker: only the small source records travel through
    the shuffle.
    """

    def __init__(self, root: str, label_map: LabelMap, num_shards: Mapping[str, int]) -> None:
        """Write under ``root``; ``label_map`` and ``num_shards`` are small and pickled to workers."""
        super().__init__()
        self.root = root
        self.label_map = label_map
        self.num_shards = dict(num_shards)

    def process(self, element: tuple[tuple[str, int], Iterable]) -> Iterator:
        """Write the shard; yield its outcome."""
        key, values = element
        images = [v for v in values if v is not None]
        yield shard_work.write_shard(self.root, key, images, self.label_map, self.num_shards)


class ValidateAndWriteShards(beam.PTransform):
    """``(split, SourceImage)`` pairs -> sorted gzip TFRecord shards, image stats, quarantine.

    Every shard key gets a marker, so empty shards are written too and the file set depends only
    on the input. Returns a dict of PCollections: ``SHARDS`` (one dict per file), ``STATS_TAG``
    (``ImageStats``) and ``QUARANTINE_TAG`` (``QuarantineRecord``).
    """

    def __init__(self, root: str, label_map: LabelMap, num_shards: Mapping[str, int]) -> None:
        """Write under ``root``; ``num_shards`` maps each split to its shard count."""
        super().__init__()
        self.root = root
        self.label_map = label_map
        self.num_shards = dict(num_shards)

    def expand(self, images):
        """Key by shard, add the empty-shard markers, group, validate and write each shard."""
        keys = shard_work.shard_keys(self.num_shards)
        markers = images.pipeline | "ShardKeys" >> beam.Create([(k, None) for k in keys])
        keyed = images | "KeyByShard" >> beam.Map(shard_work.key_by_shard, self.num_shards)
        outcomes = (
            (keyed, markers)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "ValidateAndWrite"
            >> beam.ParDo(ValidateAndWriteShardFn(self.root, self.label_map, self.num_shards))
        )
        return {
            SHARDS: outcomes | "Files" >> beam.Map(lambda outcome: outcome.file),
            STATS_TAG: outcomes | "ImageStats" >> beam.FlatMap(lambda outcome: outcome.image_stats),
            QUARANTINE_TAG: outcomes
            | "Quarantine" >> beam.FlatMap(lambda outcome: outcome.quarantine),
        }


class WriteQuarantine(beam.PTransform):
    """Write ``QuarantineRecord`` s to ``path`` as sorted JSON lines (an empty file when none)."""

    def __init__(self, path: str) -> None:
        """Write to ``path`` (local or URI)."""
        super().__init__()
        self.path = path

    def expand(self, records):
        """Serialize, gather into one list, sort and write; returns a PCollection of the path."""
        return (
            records
            | "ToJsonLine" >> beam.Map(shard_work.quarantine_line)
            | "Gather" >> beam.combiners.ToList()
            | "WriteJsonl" >> beam.Map(shard_work.write_quarantine, self.path)
        )


class StatsCombineFn(beam.CombineFn):
    """Combine ``ImageStats`` and read-time ``QuarantineRecord`` elements (``stats`` accumulator)."""

    def create_accumulator(self) -> dict:
        """Return an empty accumulator."""
        return stats.empty_accumulator()

    def add_input(self, accumulator: dict, element: stats.ImageStats | QuarantineRecord) -> dict:
        """Add one image summary or one read-time quarantine record; return the accumulator."""
        return stats.add(accumulator, element)

    def merge_accumulators(self, accumulators) -> dict:
        """Return the sum of ``accumulators`` (order does not matter)."""
        return stats.merge(accumulators)

    def extract_output(self, accumulator: dict) -> dict:
        """Return the accumulator itself (``stats.to_stats_json`` turns it into ``stats.json``)."""
        return accumulator


class WriteStats(beam.PTransform):
    """Combine ``ImageStats`` and read-time quarantine records into ``stats.json`` at ``path``.

    The input is never empty (a dataset has at least one image), so no default value is needed.
    """

    def __init__(self, path: str, images_read: int, boxes_read: int, context: dict) -> None:
        """``images_read``/``boxes_read`` come from the reader; ``context`` as in ``to_stats_json``."""
        super().__init__()
        self.path = path
        self.images_read = images_read
        self.boxes_read = boxes_read
        self.context = context

    def expand(self, items):
        """Combine globally and write; returns a PCollection holding the stats dict."""
        return (
            items
            | "Combine" >> beam.CombineGlobally(StatsCombineFn()).without_defaults()
            | "WriteJson"
            >> beam.Map(
                shard_work.write_stats,
                self.path,
                self.images_read,
                self.boxes_read,
                self.context,
            )
        )
