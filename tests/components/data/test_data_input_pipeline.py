"""Tests of components.data.input_pipeline.make_dataset on small Examples artifacts written here."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.data import input_pipeline, schema
from components.errors import UserError

BACKGROUND = 30
# Nearest-colour classes: 0 = padding, 1 = background, 2 + c = the rectangle of class c.
PALETTE = np.array([[0, 0, 0], [30, 30, 30], [0, 0, 0], [200, 40, 90], [40, 200, 120]], np.float32)
SIZE = 48


def _example(source_id: str, h: int, w: int, rects, classes, is_crowd=None) -> bytes:
    """A PNG of background with rectangles ``rects`` (pixel y0, x0, y1, x1) in their class colour."""
    image = np.full((h, w, 3), BACKGROUND, np.uint8)
    for (y0, x0, y1, x1), cls in zip(rects, classes, strict=True):
        image[y0:y1, x0:x1] = PALETTE[2 + cls]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    feature = {
        schema.IMAGE_ENCODED: strings([buffer.getvalue()]),
        schema.IMAGE_SOURCE_ID: strings([source_id.encode()]),
        schema.IMAGE_HEIGHT: ints([h]),
        schema.IMAGE_WIDTH: ints([w]),
        schema.BBOX_YMIN: floats([r[0] / h for r in rects]),
        schema.BBOX_XMIN: floats([r[1] / w for r in rects]),
        schema.BBOX_YMAX: floats([r[2] / h for r in rects]),
        schema.BBOX_XMAX: floats([r[3] / w for r in rects]),
        schema.CLASS_LABEL: ints(classes),
        schema.IS_CROWD: ints(is_crowd if is_crowd is not None else [0] * len(rects)),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_split(examples_dir: pathlib.Path, split: str, shards: list[list[bytes]]) -> None:
    directory = examples_dir / f"Split-{split}"
    directory.mkdir(parents=True)
    for i, records in enumerate(shards):
        path = directory / f"data_tfrecord-{i:05d}-of-{len(shards):05d}.gz"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for record in records:
                writer.write(record)


@pytest.fixture
def examples_dir(tmp_path) -> str:
    """Split-train: 7 images in 2 shards (one negative, one with a crowd box); Split-eval: 5."""
    train = [
        [
            _example("t0", 40, 60, [(8, 10, 28, 40)], [1]),
            _example("t1", 60, 40, [(10, 6, 40, 30), (44, 8, 56, 36)], [2, 1]),
            _example("t2", 50, 50, [], []),
            _example("t3", 36, 72, [(6, 8, 30, 30), (6, 40, 30, 66)], [1, 2], is_crowd=[0, 1]),
        ],
        [
            _example("t4", 64, 48, [(16, 12, 48, 36)], [2]),
            _example("t5", 30, 30, [(5, 5, 25, 25)], [1]),
            _example("t6", 44, 66, [(4, 4, 20, 30), (24, 34, 40, 62)], [1, 2]),
        ],
    ]
    evals = [
        [
            _example("e0", 40, 60, [(8, 10, 28, 40)], [1]),
            _example("e1", 60, 40, [(10, 6, 40, 30), (44, 8, 56, 36), (2, 34, 8, 39)], [2, 1, 1]),
            _example("e2", 50, 50, [], []),
            _example("e3", 24, 48, [(4, 4, 20, 20)], [2]),
            _example("e4", 48, 48, [(0, 0, 48, 48)], [1]),
        ]
    ]
    _write_split(tmp_path, "train", train)
    _write_split(tmp_path, "eval", evals)
    return str(tmp_path)


def _nearest_colour(pixels: np.ndarray) -> np.ndarray:
    """Index into PALETTE of the colour nearest to each pixel [..., 3]."""
    return np.linalg.norm(pixels[..., None, :] - PALETTE, axis=-1).argmin(-1)


def _assert_box_on_rectangle(canvas: np.ndarray, box: np.ndarray, cls: int, margin: float = 1.5):
    """Pixels 1 px inside ``box`` (normalised to the canvas) are nearest to the colour of class
    ``cls``; pixels ``margin`` outside each side that is not on the canvas edge are not."""
    size = canvas.shape[0]
    target = 2 + int(cls)
    y0, x0, y1, x1 = box * size
    centres = np.arange(size) + 0.5
    rows = (centres >= y0 + 1) & (centres <= y1 - 1)
    cols = (centres >= x0 + 1) & (centres <= x1 - 1)
    assert rows.any() and cols.any(), f"box too small to check: {box * size}"
    assert np.all(_nearest_colour(canvas[rows][:, cols]) == target), (cls, box * size)
    for edge, outside in ((y0, int(np.floor(y0 - margin))), (y1, int(np.ceil(y1 + margin)) - 1)):
        if 0.5 < edge < size - 0.5 and 0 <= outside < size:
            assert np.all(_nearest_colour(canvas[outside, cols]) != target), (edge, box * size)
    for edge, outside in ((x0, int(np.floor(x0 - margin))), (x1, int(np.ceil(x1 + margin)) - 1)):
        if 0.5 < edge < size - 0.5 and 0 <= outside < size:
            assert np.all(_nearest_colour(canvas[rows, outside]) != target), (edge, box * size)


def _collect(dataset):
    return [
        (images.numpy(), {k: v.numpy() for k, v in labels.items()}) for images, labels in dataset
    ]


def test_eval_dataset_shapes_order_padding_and_alignment(examples_dir):
    dataset = input_pipeline.make_dataset(
        examples_dir, "eval", SIZE, 2, training=False, max_boxes=4, include_metadata=True
    )
    images_spec, labels_spec = dataset.element_spec
    assert images_spec.shape.as_list() == [None, SIZE, SIZE, 3]
    assert images_spec.dtype == tf.float32
    assert labels_spec["boxes"].shape.as_list() == [None, 4, 4]
    assert labels_spec["classes"].dtype == tf.int32 and labels_spec["num_boxes"].dtype == tf.int32
    batches = _collect(dataset)
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]  # the remainder is kept
    images = np.concatenate([b[0] for b in batches])
    labels = {k: np.concatenate([b[1][k] for b in batches]) for k in batches[0][1]}
    assert [s.decode() for s in labels["source_id"]] == ["e0", "e1", "e2", "e3", "e4"]
    assert labels["num_boxes"].tolist() == [1, 3, 0, 1, 1]
    assert labels["height"].tolist() == [40, 60, 50, 24, 48]
    assert labels["classes"].tolist() == [
        [1, 0, 0, 0],
        [2, 1, 1, 0],
        [0] * 4,
        [2, 0, 0, 0],
        [1, 0, 0, 0],
    ]
    assert images.min() >= 0.0 and images.max() <= 255.0
    for image, boxes, classes, num in zip(
        images, labels["boxes"], labels["classes"], labels["num_boxes"], strict=True
    ):
        np.testing.assert_array_equal(boxes[num:], 0.0)
        for box, cls in zip(boxes[:num], classes[:num], strict=True):
            _assert_box_on_rectangle(image, box, cls)
    # e0 is 40 x 60: the content is 32 x 48, padded with zeros below.
    assert np.all(images[0, 32:] == 0.0) and images[0, :32].min() > 0
    np.testing.assert_allclose(
        labels["boxes"][0, 0], [8 / 40 * 32 / 48, 10 / 60, 28 / 40 * 32 / 48, 40 / 60], atol=1e-6
    )


def test_max_boxes_truncates(examples_dir):
    dataset = input_pipeline.make_dataset(
        examples_dir, "eval", SIZE, 5, training=False, max_boxes=2
    )
    ((_, labels),) = _collect(dataset)
    assert labels["num_boxes"].tolist() == [1, 2, 0, 1, 1]
    assert labels["classes"].shape == (5, 2) and labels["boxes"].shape == (5, 2, 4)


def test_training_dataset_augments_with_aligned_boxes_and_drops_remainder(examples_dir):
    dataset = input_pipeline.make_dataset(
        examples_dir,
        "train",
        SIZE,
        3,
        training=True,
        max_boxes=5,
        seed=11,
        include_metadata=True,
    )
    assert dataset.element_spec[0].shape.as_list() == [3, SIZE, SIZE, 3]
    seen_ids = []
    checked = 0
    for _ in range(3):  # epochs
        batches = _collect(dataset)
        assert len(batches) == 2  # 7 examples, batch 3, remainder dropped
        for images, labels in batches:
            assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 255
            for image, boxes, classes, num, source in zip(
                images,
                labels["boxes"],
                labels["classes"],
                labels["num_boxes"],
                labels["source_id"],
                strict=True,
            ):
                seen_ids.append(source.decode())
                assert np.all(classes[:num] >= 1) and np.all(classes[num:] == 0)
                np.testing.assert_array_equal(boxes[num:], 0.0)
                assert np.all(boxes[:num] >= 0) and np.all(boxes[:num] <= 1)
                if source == b"t3":
                    assert num <= 1  # the crowd box is skipped in training
                for box, cls in zip(boxes[:num], classes[:num], strict=True):
                    if min(box[2] - box[0], box[3] - box[1]) * SIZE > 3:
                        _assert_box_on_rectangle(image, box, cls)
                        checked += 1
    assert len(set(seen_ids)) == 7  # shuffling over epochs reaches every example
    assert checked >= 8


def test_training_is_reproducible_with_a_seed_and_varies_by_epoch(examples_dir):
    def epochs(seed, n=2):
        dataset = input_pipeline.make_dataset(
            examples_dir,
            "train",
            SIZE,
            2,
            training=True,
            max_boxes=3,
            seed=seed,
            include_metadata=True,
        )
        return [_collect(dataset) for _ in range(n)]

    def by_source(epoch):
        return {
            source: image
            for images, labels in epoch
            for image, source in zip(images, labels["source_id"], strict=True)
        }

    first, again, other = epochs(3), epochs(3), epochs(4)
    for epoch_a, epoch_b in zip(first, again, strict=True):
        for (images_a, labels_a), (images_b, labels_b) in zip(epoch_a, epoch_b, strict=True):
            np.testing.assert_array_equal(images_a, images_b)
            for key in labels_a:
                np.testing.assert_array_equal(labels_a[key], labels_b[key])
    # The same image is augmented differently in the next epoch and under another seed.
    for a, b in ((first[0], first[1]), (first[0], other[0])):
        images_a, images_b = by_source(a), by_source(b)
        common = set(images_a) & set(images_b)
        assert common
        assert all(not np.array_equal(images_a[s], images_b[s]) for s in common)
    orders = [[s for _, labels in epoch for s in labels["source_id"]] for epoch in first + other]
    assert len({tuple(order) for order in orders}) > 1  # the order is shuffled too


def test_missing_split_is_a_user_error(examples_dir):
    with pytest.raises(UserError, match="Split-test"):
        input_pipeline.make_dataset(examples_dir, "test", SIZE, 2, training=False)


def _train_epoch(examples_dir, augment=None, switch=None, seed=11):
    dataset = input_pipeline.make_dataset(
        examples_dir,
        "train",
        SIZE,
        3,
        training=True,
        max_boxes=8,
        seed=seed,
        augment=augment,
        mosaic_switch=switch,
    )
    return _collect(dataset)


def test_mosaic_samples_keep_boxes_on_their_rectangles_and_are_reproducible(examples_dir):
    from components.detector.config import AugmentConfig

    epoch = _train_epoch(examples_dir, AugmentConfig(mosaic=1.0))
    checked = 0
    for images, labels in epoch:
        for image, boxes, classes, num in zip(
            images, labels["boxes"], labels["classes"], labels["num_boxes"], strict=True
        ):
            assert np.all(boxes[:num] >= 0) and np.all(boxes[:num] <= 1)
            for box, cls in zip(boxes[:num], classes[:num], strict=True):
                if min(box[2] - box[0], box[3] - box[1]) * SIZE > 3:
                    _assert_box_on_rectangle(image, box, cls)
                    checked += 1
    assert checked >= 8
    again = _train_epoch(examples_dir, AugmentConfig(mosaic=1.0))
    for (images, labels), (images_b, labels_b) in zip(epoch, again, strict=True):
        np.testing.assert_array_equal(images, images_b)
        np.testing.assert_array_equal(labels["boxes"], labels_b["boxes"])


def test_a_closed_mosaic_and_zero_gains_give_the_default_pipeline(examples_dir):
    from components.data import mosaic
    from components.detector.config import AugmentConfig

    default = _train_epoch(examples_dir)
    switch = mosaic.MosaicSwitch()
    mosaic_on = _train_epoch(examples_dir, AugmentConfig(mosaic=1.0), switch)
    switch.set(False)
    closed = _train_epoch(examples_dir, AugmentConfig(mosaic=1.0), switch)
    coloured = _train_epoch(examples_dir, AugmentConfig(hsv_h=0.5, hsv_s=0.7, hsv_v=0.4))
    for (images, labels), (c_images, c_labels), (m_images, _), (h_images, h_labels) in zip(
        default, closed, mosaic_on, coloured, strict=True
    ):
        np.testing.assert_array_equal(images, c_images)
        for key in labels:
            np.testing.assert_array_equal(labels[key], c_labels[key])
            np.testing.assert_array_equal(labels[key], h_labels[key])  # colour moves no box
        assert not np.array_equal(images, m_images)
        assert not np.allclose(images, h_images, atol=1.0)
