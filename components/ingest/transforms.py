"""The Beam building blocks of the ingest pipeline: DoFns and PTransforms.

- ``ValidateImageFn``: ``(split, SourceImage)`` -> keyed example ``((split, shard), (image_id,
  example))`` on the main output, an ``ImageStats`` on ``stats`` and ``QuarantineRecord`` s on
  ``quarantine``. Image bytes are read through Beam's ``FileSystems``.
- ``WriteSortedShards``: writes every shard of every split as a gzip TFRecord file with its
  examples sorted by image id, so reruns produce byte-identical files on any runner (Beam's
  ``WriteToTFRecord`` assigns records to shards round-robin from a random start, which is not
  reproducible). Empty shards are written too, so the file set depends only on the input size.
- ``WriteQuarantine``: one JSON line per record, sorted, in ``quarantine.jsonl``.
- ``WriteStats``: the ``StatsCombineFn`` result turned into ``stats.json``.

Nothing here imports TensorFlow: the workers only need Beam, Pillow and ``components``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

import apache_beam as beam
from apache_beam import pvalue

from components.data.labels import LabelMap
from components.data.records import QuarantineRecord, SourceImage
from components.data.validate import validate_image
from components.ingest import output, split, stats, tfrecord

QUARANTINE_TAG = "quarantine"
STATS_TAG = "stats"


class ValidateImageFn(beam.DoFn):
    """Decode and validate one image; emit its example, statistics and quarantine records."""

    def __init__(self, label_map: LabelMap, num_shards: Mapping[str, int]) -> None:
        """Keep the label map and the shard count of each split (both small, pickled to workers)."""
        super().__init__()
        self.label_map = label_map
        self.num_shards = dict(num_shards)

    def process(self, element: tuple[str, SourceImage]) -> Iterator:
        """Yield ``((split, shard), (image_id, example))`` and the tagged side outputs."""
        split_name, image = element
        result = validate_image(image, self.label_map, output.read_bytes)
        for record in result.quarantine:
            yield pvalue.TaggedOutput(QUARANTINE_TAG, record)
        yield pvalue.TaggedOutput(STATS_TAG, stats.summarize(split_name, result))
        if result.example is not None:
            shard = split.shard_index(image.image_id, self.num_shards[split_name])
            yield (split_name, shard), (image.image_id, result.example)


class _WriteShardFn(beam.DoFn):
    def __init__(self, root: str, num_shards: Mapping[str, int]) -> None:
        super().__init__()
        self.root = root
        self.num_shards = dict(num_shards)

    def process(self, element: tuple[tuple[str, int], Iterable]) -> Iterator[dict]:
        (split_name, index), values = element
        examples = sorted(v for v in values if v is not None)
        path = split.shard_path(self.root, split_name, index, self.num_shards[split_name])
        count = tfrecord.write_gzip_tfrecord(path, (example for _, example in examples))
        yield {"split": split_name, "shard": index, "path": path, "examples": count}


class WriteSortedShards(beam.PTransform):
    """Write keyed examples ``((split, shard), (image_id, example))`` to sorted gzip shards.

    Returns a PCollection with one ``{"split", "shard", "path", "examples"}`` dict per file.
    """

    def __init__(self, root: str, num_shards: Mapping[str, int]) -> None:
        """Write under ``root``; ``num_shards`` maps each split to its shard count."""
        super().__init__()
        self.root = root
        self.num_shards = dict(num_shards)

    def expand(self, keyed_examples):
        """Group by shard (every shard key present, even empty ones) and write each file."""
        keys = [(s, i) for s, n in sorted(self.num_shards.items()) for i in range(n)]
        markers = keyed_examples.pipeline | "ShardKeys" >> beam.Create([(k, None) for k in keys])
        return (
            (keyed_examples, markers)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShardFn(self.root, self.num_shards))
        )


def quarantine_line(record: QuarantineRecord) -> str:
    """Return ``record`` as one JSON line (keys sorted, no trailing newline)."""
    return json.dumps(record.to_json(), sort_keys=True, ensure_ascii=False)


def _quarantine_sort_key(line: str) -> tuple:
    data = json.loads(line)
    return (data["source"], data["image_id"], data["kind"], data["reason"], data["detail"], line)


def _write_lines(lines: list[str], path: str) -> str:
    ordered = sorted(lines, key=_quarantine_sort_key)
    output.write_bytes(path, "".join(line + "\n" for line in ordered).encode("utf-8"))
    return path


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
            | "ToJsonLine" >> beam.Map(quarantine_line)
            | "Gather" >> beam.combiners.ToList()
            | "WriteJsonl" >> beam.Map(_write_lines, self.path)
        )


def _write_stats(acc: dict, path: str, images_read: int, boxes_read: int, context: dict) -> dict:
    content = stats.to_stats_json(acc, images_read, boxes_read, context)
    output.write_bytes(path, (json.dumps(content, indent=2, sort_keys=False) + "\n").encode())
    return content


class WriteStats(beam.PTransform):
    """Combine ``ImageStats`` and read-time quarantine records into ``stats.json`` at ``path``."""

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
            | "Combine" >> beam.CombineGlobally(stats.StatsCombineFn())
            | "WriteJson"
            >> beam.Map(_write_stats, self.path, self.images_read, self.boxes_read, self.context)
        )
