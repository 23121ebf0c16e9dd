"""Tests of components.data.example_reader on small Examples artifacts written here."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.data import example_reader, schema
from components.errors import UserError


def _encode(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _example(source_id: str, array: np.ndarray, fmt: str, boxes, classes, **extra) -> bytes:
    h, w = array.shape[:2]
    feature = {
        schema.IMAGE_ENCODED: [_encode(array, fmt)],
        schema.IMAGE_FORMAT: [fmt.lower().encode()],
        schema.IMAGE_SOURCE_ID: [source_id.encode()],
        schema.IMAGE_HEIGHT: [h],
        schema.IMAGE_WIDTH: [w],
        schema.BBOX_YMIN: [b[0] for b in boxes],
        schema.BBOX_XMIN: [b[1] for b in boxes],
        schema.BBOX_YMAX: [b[2] for b in boxes],
        schema.BBOX_XMAX: [b[3] for b in boxes],
        schema.CLASS_LABEL: list(classes),
        **extra,
    }

    def wrap(key, values):
        if key in schema.BYTES_KEYS:
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if key in schema.INT64_KEYS:
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    features = tf.train.Features(feature={k: wrap(k, v) for k, v in feature.items()})
    return tf.train.Example(features=features).SerializeToString()


def _write_shard(path: pathlib.Path, records: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for record in records:
            writer.write(record)


def _rectangle_image(h: int, w: int, box_px: tuple[int, int, int, int]) -> np.ndarray:
    image = np.full((h, w, 3), 30, np.uint8)
    y0, x0, y1, x1 = box_px
    image[y0:y1, x0:x1] = (200, 40, 90)
    return image


def test_read_split_jpeg_and_png_with_boxes_and_negatives(tmp_path):
    png = _rectangle_image(20, 30, (4, 6, 12, 18))
    jpeg = _rectangle_image(16, 12, (2, 2, 10, 8))
    records_a = [
        _example(
            "a",
            png,
            "PNG",
            [(4 / 20, 6 / 30, 12 / 20, 18 / 30), (0.0, 0.0, 0.5, 0.5)],
            [1, 2],
            **{schema.IS_CROWD: [0, 1], schema.AREA: [96.0, 150.0]},
        ),
        _example("b", jpeg, "JPEG", [(2 / 16, 2 / 12, 10 / 16, 8 / 12)], [3]),
    ]
    records_b = [_example("neg", png, "PNG", [], [])]
    split = tmp_path / "Split-train"
    _write_shard(split / "data_tfrecord-00000-of-00002.gz", records_a)
    _write_shard(split / "data_tfrecord-00001-of-00002.gz", records_b)
    (split / "unrelated.txt").write_text("not a shard")

    shards = example_reader.list_shards(str(tmp_path), "train")
    assert [pathlib.Path(s).name for s in shards] == [
        "data_tfrecord-00000-of-00002.gz",
        "data_tfrecord-00001-of-00002.gz",
    ]
    items = {
        e["source_id"].numpy().decode(): e
        for e in example_reader.read_split(str(tmp_path), "train")
    }
    assert set(items) == {"a", "b", "neg"}

    a = items["a"]
    assert a["image"].dtype == tf.uint8 and a["image"].shape == (20, 30, 3)
    np.testing.assert_array_equal(a["image"].numpy(), png)  # PNG is lossless
    assert int(a["height"]) == 20 and int(a["width"]) == 30
    assert a["height"].dtype == tf.int32 and a["width"].dtype == tf.int32
    assert a["boxes"].dtype == tf.float32 and a["boxes"].shape == (2, 4)
    np.testing.assert_allclose(a["boxes"][0].numpy(), [0.2, 0.2, 0.6, 0.6], atol=1e-6)
    assert a["classes"].dtype == tf.int32 and a["classes"].numpy().tolist() == [1, 2]
    assert a["is_crowd"].dtype == tf.int32 and a["is_crowd"].numpy().tolist() == [0, 1]
    np.testing.assert_allclose(a["area"].numpy(), [96.0, 150.0])

    b = items["b"]
    assert b["image"].shape == (16, 12, 3)
    assert np.abs(b["image"].numpy().astype(int) - jpeg.astype(int)).mean() < 4  # lossy JPEG
    assert b["is_crowd"].numpy().tolist() == [0]  # absent -> zeros
    np.testing.assert_allclose(b["area"].numpy(), [8 * 6], rtol=1e-5)  # absent -> from boxes

    neg = items["neg"]
    assert neg["boxes"].shape == (0, 4) and neg["classes"].shape == (0,)
    assert neg["is_crowd"].shape == (0,) and neg["area"].shape == (0,)


def test_read_boxes_gives_every_box_with_its_image_size_without_decoding(tmp_path):
    png = _rectangle_image(20, 30, (4, 6, 12, 18))
    jpeg = _rectangle_image(16, 12, (2, 2, 10, 8))
    records = [
        _example("a", png, "PNG", [(0.2, 0.2, 0.6, 0.6), (0.0, 0.0, 0.5, 0.5)], [1, 2]),
        _example("neg", png, "PNG", [], []),
        _example("b", jpeg, "JPEG", [(0.125, 0.25, 0.5, 0.75)], [3]),
    ]
    _write_shard(tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz", records)

    boxes, heights, widths = example_reader.read_boxes(str(tmp_path), "train")

    np.testing.assert_allclose(
        boxes, [[0.2, 0.2, 0.6, 0.6], [0.0, 0.0, 0.5, 0.5], [0.125, 0.25, 0.5, 0.75]], atol=1e-6
    )
    assert heights.tolist() == [20, 20, 16] and widths.tolist() == [30, 30, 12]


def test_parse_example_static_shapes_inside_tf_function():
    record = _example("x", _rectangle_image(8, 8, (1, 1, 4, 4)), "PNG", [(0.1, 0.1, 0.5, 0.5)], [1])
    spec = (
        tf.data.Dataset.from_tensors(tf.constant(record))
        .map(example_reader.parse_example)
        .element_spec
    )
    assert spec["image"].shape.as_list() == [None, None, 3]
    assert spec["boxes"].shape.as_list() == [None, 4]
    assert spec["classes"].dtype == tf.int32


def test_missing_split_raises_user_error_naming_directory(tmp_path):
    _write_shard(tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz", [])
    with pytest.raises(UserError, match="Split-eval"):
        example_reader.list_shards(str(tmp_path), "eval")
    (tmp_path / "Split-empty").mkdir()
    with pytest.raises(UserError, match=str(tmp_path / "Split-empty")):
        example_reader.read_split(str(tmp_path), "empty")
    with pytest.raises(UserError, match="no 'train' shards"):
        example_reader.list_shards(str(tmp_path / "nowhere"), "train")


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_shard_is_named_with_what_is_wrong(tmp_path, damage):
    rng = np.random.default_rng(0)
    records = [
        _example(str(i), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "PNG", [], [])
        for i in range(6)
    ]
    shard = tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz"
    _write_shard(shard, records)
    assert example_reader.check_split(str(tmp_path), "train") == 6
    data = bytearray(shard.read_bytes())
    middle = len(data) // 2
    if damage == "truncated":
        del data[middle:]
    else:
        data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    shard.write_bytes(bytes(data))
    what = r"truncated record at \d+" if damage == "truncated" else "corrupted (record|gzip)"
    with pytest.raises(UserError, match=rf"shard {shard} is damaged \({what}"):
        example_reader.check_split(str(tmp_path), "train")
