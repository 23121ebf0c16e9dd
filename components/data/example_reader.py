"""Read the Examples artifact: list the shards of a split, parse and decode its tf.Examples.

Layout (TFX ExampleGen): ``<examples_dir>/Split-<split>/data_tfrecord-*.gz``, GZIP TFRecord files
of tf.Example with the TF Object Detection API keys of :mod:`components.data.schema`. The shards
are listed and read by TensorFlow itself (``tf.io.gfile``, ``tf.data``), so a URI works when
TensorFlow can open it; every other file access goes through :mod:`components.files`.
"""

from __future__ import annotations

import posixpath
import re

import tensorflow as tf

from components.artifacts.examples import SHARD_PREFIX, SHARD_SUFFIX, SPLIT_DIR
from components.data import schema
from components.errors import UserError

_COMPRESSION = "GZIP"


def split_dir(examples_dir: str, split: str) -> str:
    """Return the directory of ``split`` inside ``examples_dir`` (``.../Split-<split>``)."""
    return posixpath.join(str(examples_dir).rstrip("/"), SPLIT_DIR.format(split=split))


def list_shards(examples_dir: str, split: str) -> list[str]:
    """Return the sorted shard paths of ``split`` (``Split-<split>/data_tfrecord-*.gz``).

    Raises UserError naming the directory when the split has no shards (missing directory,
    missing split, or an empty split directory).
    """
    directory = split_dir(examples_dir, split)
    pattern = posixpath.join(directory, f"{SHARD_PREFIX}-*{SHARD_SUFFIX}")
    try:
        shards = tf.io.gfile.glob(pattern)
    except tf.errors.OpError:  # e.g. a bucket that does not exist
        shards = []
    if not shards:
        raise UserError(
            f"no '{split}' shards in {directory}: expected files matching {pattern} "
            f"(is {examples_dir} an Examples artifact written by `nasdet ingest`?)"
        )
    return sorted(shards)


def read_records(shards: list[str], shuffle_files: bool = False, seed: int | None = None):
    """Return a tf.data.Dataset of the serialized tf.Example strings in ``shards``.

    Shards are read in the given order (or shuffled with ``seed`` when ``shuffle_files``),
    interleaved deterministically when there are several.
    """
    files = tf.data.Dataset.from_tensor_slices(list(shards))
    if shuffle_files and len(shards) > 1:
        files = files.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
    if len(shards) == 1:
        return tf.data.TFRecordDataset(files, compression_type=_COMPRESSION)
    return files.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=_COMPRESSION),
        cycle_length=min(len(shards), 4),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def count_shard(shard: str) -> int:
    """Return the number of records in one shard; UserError naming it when it is damaged.

    A shard cut short (a partial copy on a volume) or with a corrupt record cannot be read to
    its end: TensorFlow's ``DataLossError`` becomes a one-line error with the shard and what is
    wrong with it.
    """
    try:
        return int(read_records([shard]).reduce(0, lambda n, _: n + 1).numpy())
    except tf.errors.DataLossError as err:
        raise damaged_shard(shard, err) from None


def damaged_shard(shard: str, err: Exception) -> UserError:
    """The one-line error for a shard TensorFlow could not read to its end."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\].*", "", str(err))
    record = re.search(r"(truncated|corrupted) record at \d+", text)
    inflate = re.search(r"inflate\(\) failed with error -?\d+: ([^\n\[]+)", text)
    if record:
        what = record.group(0)
    elif inflate:
        what = f"corrupted gzip data: {inflate.group(1).strip()}"
    else:
        what = text.strip().splitlines()[0][:200] if text.strip() else type(err).__name__
    return UserError(
        f"Examples shard {shard} is damaged ({what}): copy the Examples again or re-run ingest"
    )


def check_split(examples_dir: str, split: str) -> int:
    """Read every shard of ``split`` to its end; return the record count.

    UserError naming the first damaged shard (or a split without shards)."""
    return sum(count_shard(shard) for shard in list_shards(examples_dir, split))


def _feature_spec() -> dict:
    spec = {
        schema.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
        schema.IMAGE_SOURCE_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    for key in (schema.BBOX_YMIN, schema.BBOX_XMIN, schema.BBOX_YMAX, schema.BBOX_XMAX):
        spec[key] = tf.io.VarLenFeature(tf.float32)
    spec[schema.AREA] = tf.io.VarLenFeature(tf.float32)
    spec[schema.CLASS_LABEL] = tf.io.VarLenFeature(tf.int64)
    spec[schema.IS_CROWD] = tf.io.VarLenFeature(tf.int64)
    return spec


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """Decode one encoded image (JPEG, PNG, GIF first frame, BMP) to uint8 [H, W, 3]."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse and decode one serialized tf.Example of the Examples artifact.

    Takes a scalar string tensor. Returns a dict of tensors: ``image`` uint8 [H, W, 3] (decoded),
    ``height`` and ``width`` int32 (of the decoded image), ``source_id`` string, ``boxes`` float32
    [N, 4] (ymin, xmin, ymax, xmax normalised to the original image), ``classes`` int32 [N]
    (1..K), ``is_crowd`` int32 [N] (0 when absent) and ``area`` float32 [N] (pixels; computed
    from the boxes when absent). Works eagerly and inside ``tf.data`` / ``tf.function``.
    """
    parsed = tf.io.parse_single_example(serialized, _feature_spec())
    dense = {
        key: tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value
        for key, value in parsed.items()
    }
    image = decode_image(dense[schema.IMAGE_ENCODED])
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    boxes = tf.stack(
        [
            dense[schema.BBOX_YMIN],
            dense[schema.BBOX_XMIN],
            dense[schema.BBOX_YMAX],
            dense[schema.BBOX_XMAX],
        ],
        axis=-1,
    )
    boxes = tf.reshape(boxes, [-1, 4])
    num = tf.shape(boxes)[0]
    classes = tf.cast(dense[schema.CLASS_LABEL], tf.int32)
    is_crowd = tf.cast(dense[schema.IS_CROWD], tf.int32)
    is_crowd = tf.cond(
        tf.equal(tf.size(is_crowd), num), lambda: is_crowd, lambda: tf.zeros([num], tf.int32)
    )
    pixel_area = (
        (boxes[:, 2] - boxes[:, 0])
        * (boxes[:, 3] - boxes[:, 1])
        * tf.cast(height * width, tf.float32)
    )
    area = dense[schema.AREA]
    area = tf.cond(tf.equal(tf.size(area), num), lambda: area, lambda: pixel_area)
    return {
        "image": image,
        "height": height,
        "width": width,
        "source_id": dense[schema.IMAGE_SOURCE_ID],
        "boxes": boxes,
        "classes": classes,
        "is_crowd": is_crowd,
        "area": area,
    }


def read_split(examples_dir: str, split: str) -> tf.data.Dataset:
    """Return an unbatched tf.data.Dataset of :func:`parse_example` dicts for ``split``.

    The order is deterministic (sorted shards, interleaved record by record when there are
    several). Raises UserError when the split has no shards.
    """
    records = read_records(list_shards(examples_dir, split))
    return records.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def read_boxes(examples_dir: str, split: str):
    """Return numpy ``(boxes [N, 4], heights [N], widths [N])`` of every box in ``split``.

    Boxes are normalised (ymin, xmin, ymax, xmax); ``heights`` / ``widths`` are the pixel size of
    each box's image. Only the box and size features are parsed: no image is decoded.
    """
    import numpy as np

    spec = {
        schema.IMAGE_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        schema.IMAGE_WIDTH: tf.io.FixedLenFeature([], tf.int64),
        **{
            key: tf.io.VarLenFeature(tf.float32)
            for key in (schema.BBOX_YMIN, schema.BBOX_XMIN, schema.BBOX_YMAX, schema.BBOX_XMAX)
        },
    }
    boxes, heights, widths = [], [], []
    records = read_records(list_shards(examples_dir, split))
    for batch in records.batch(256):
        parsed = tf.io.parse_example(batch, spec)
        coords = [
            tf.sparse.to_dense(parsed[key]).numpy()
            for key in (schema.BBOX_YMIN, schema.BBOX_XMIN, schema.BBOX_YMAX, schema.BBOX_XMAX)
        ]
        counts = parsed[schema.BBOX_YMIN].indices.numpy()[:, 0]
        per_image = np.bincount(counts, minlength=len(coords[0]))
        mask = np.arange(coords[0].shape[1])[None, :] < per_image[:, None]
        boxes.append(np.stack([c[mask] for c in coords], axis=-1))
        heights.append(np.repeat(parsed[schema.IMAGE_HEIGHT].numpy(), per_image))
        widths.append(np.repeat(parsed[schema.IMAGE_WIDTH].numpy(), per_image))
    if not boxes:
        return np.zeros([0, 4], np.float32), np.zeros([0]), np.zeros([0])
    return np.concatenate(boxes), np.concatenate(heights), np.concatenate(widths)
