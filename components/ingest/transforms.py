"""The Beam building blocks of the ingest pipeline: DoFns and PTransforms.

- ``ValidateAndWriteShards``: source images are grouped by shard (a hash of the image id); each
  shard's images are validated in image-id order (bytes read through Beam's ``FileSystems``) and
  written as one gzip TFRecord file, so reruns produce byte-identical files on any runner (Beam's
  ``WriteToTFRecord`` assigns records to shards round-robin from a random start, which is not
  reproducible). Empty shards are written too, so the file set depends only on the input size.
  Side outputs: an ``ImageStats`` per image and the ``QuarantineRecord`` s.
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


def key_by_shard(element: tuple[str, SourceImage], num_shards: Mapping[str, int]) -> tuple:
    """Return ``((split, shard), image)`` for a ``(split, image)`` pair (shard: hash of the id)."""
    split_name, image = element
    return (split_name, split.shard_index(image.image_id, num_shards[split_name])), image


class ValidateAndWriteShardFn(beam.DoFn):
    """Validate the images of one shard in image-id order and write them to its gzip TFRecord file.

    Input: ``((split, shard), iterable of SourceImage or None)`` (None: the empty-shard marker).
    Main output: ``{"split", "shard", "path", "examples"}`` for the written file; tagged outputs:
    one ``ImageStats`` per image on ``stats``, every ``QuarantineRecord`` on ``quarantine``.
    Image bytes are read (through Beam's ``FileSystems``), decoded and written by the same worker:
    only the small source records travel through the shuffle.
    """

    def __init__(self, root: str, label_map: LabelMap, num_shards: Mapping[str, int]) -> None:
        """Write under ``root``; ``label_map`` and ``num_shards`` are small and pickled to workers."""
        super().__init__()
        self.root = root
        self.label_map = label_map
        self.num_shards = dict(num_shards)

    def process(self, element: tuple[tuple[str, int], Iterable]) -> Iterator:
        """Yield the side outputs per image, then the written file's summary."""
        (split_name, index), values = element
        images = sorted((v for v in values if v is not None), key=lambda image: image.image_id)
        side: list = []

        def examples() -> Iterator[bytes]:
            for image in images:
                result = validate_image(image, self.label_map, output.read_bytes)
                side.extend(pvalue.TaggedOutput(QUARANTINE_TAG, q) for q in result.quarantine)
                side.append(pvalue.TaggedOutput(STATS_TAG, stats.summarize(split_name, result)))
                if result.example is not None:
                    yield result.example

        path = split.shard_path(self.root, split_name, index, self.num_shards[split_name])
        count = tfrecord.write_gzip_tfrecord(path, examples())
        yield from side
        yield {"split": split_name, "shard": index, "path": path, "examples": count}


class ValidateAndWriteShards(beam.PTransform):
    """``(split, SourceImage)`` pairs -> sorted gzip TFRecord shards, image stats, quarantine.

    Every shard key gets a marker, so empty shards are written too and the file set depends only
    on the input. Returns the ``ParDo`` outputs: main (one dict per file), ``stats``, ``quarantine``.
    """

    def __init__(self, root: str, label_map: LabelMap, num_shards: Mapping[str, int]) -> None:
        """Write under ``root``; ``num_shards`` maps each split to its shard count."""
        super().__init__()
        self.root = root
        self.label_map = label_map
        self.num_shards = dict(num_shards)

    def expand(self, images):
        """Key by shard, add the empty-shard markers, group, validate and write each shard."""
        keys = [(s, i) for s, n in sorted(self.num_shards.items()) for i in range(n)]
        markers = images.pipeline | "ShardKeys" >> beam.Create([(k, None) for k in keys])
        keyed = images | "KeyByShard" >> beam.Map(key_by_shard, self.num_shards)
        return (
            (keyed, markers)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "ValidateAndWrite"
            >> beam.ParDo(
                ValidateAndWriteShardFn(self.root, self.label_map, self.num_shards)
            ).with_outputs(QUARANTINE_TAG, STATS_TAG, main="shards")
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
            | "Combine" >> beam.CombineGlobally(stats.StatsCombineFn()).without_defaults()
            | "WriteJson"
            >> beam.Map(_write_stats, self.path, self.images_read, self.boxes_read, self.context)
        )
