"""Tests of components.data.mosaic: 4 images on one canvas, boxes on their pixels, the switch."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.data import mosaic

SIZE = 64
BACKGROUND = 30.0
# class c's rectangle is COLOURS[c - 1]; nearest-colour index 0 = black padding, 1 = background
COLOURS = np.array([[200, 40, 90], [40, 200, 120], [60, 90, 230], [230, 220, 40]], np.float32)
PALETTE = np.concatenate([[[0, 0, 0], [BACKGROUND] * 3], COLOURS])
# (height, width, rectangle y0, x0, y1, x1 in pixels) of the 4 images
LAYOUTS = [
    (40, 60, 8, 10, 30, 40),
    (60, 40, 10, 6, 50, 30),
    (50, 50, 5, 20, 45, 45),
    (30, 90, 4, 30, 26, 80),
]


def _inputs():
    images, boxes, classes = [], [], []
    for i, (h, w, y0, x0, y1, x1) in enumerate(LAYOUTS):
        image = np.full((h, w, 3), BACKGROUND, np.uint8)
        image[y0:y1, x0:x1] = COLOURS[i]
        images.append(tf.constant(image))
        boxes.append(tf.constant([[y0 / h, x0 / w, y1 / h, x1 / w]], tf.float32))
        classes.append(tf.constant([i + 1], tf.int32))
    return images, boxes, classes


def _nearest(pixels: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pixels[..., None, :] - PALETTE, axis=-1).argmin(-1)


def _assert_box_on_its_colour(canvas: np.ndarray, box: np.ndarray, cls: int) -> None:
    """Pixels 1 px inside the box have the class colour; pixels 2 px outside do not."""
    y0, x0, y1, x1 = box * SIZE
    centres = np.arange(SIZE) + 0.5
    rows = (centres >= y0 + 1) & (centres <= y1 - 1)
    cols = (centres >= x0 + 1) & (centres <= x1 - 1)
    assert np.all(_nearest(canvas[rows][:, cols]) == 1 + cls), (cls, box * SIZE)
    for outside in (int(np.floor(y0 - 2)), int(np.ceil(y1 + 2)) - 1):
        if 0 <= outside < SIZE:
            assert np.all(_nearest(canvas[outside, cols]) != 1 + cls), (cls, box * SIZE)
    for outside in (int(np.floor(x0 - 2)), int(np.ceil(x1 + 2)) - 1):
        if 0 <= outside < SIZE:
            assert np.all(_nearest(canvas[rows, outside]) != 1 + cls), (cls, box * SIZE)


def test_mosaic_shape_range_and_boxes_on_their_pixels():
    images, boxes, classes = _inputs()
    seen_classes, seen_padding, seen_cut, seen_all_four = set(), False, False, False
    for i in range(30):
        canvas, out_boxes, out_classes = mosaic.mosaic(
            images, boxes, classes, SIZE, tf.constant([i, 2])
        )
        canvas, out_boxes, out_classes = canvas.numpy(), out_boxes.numpy(), out_classes.numpy()
        assert canvas.shape == (SIZE, SIZE, 3) and canvas.dtype == np.float32
        assert canvas.min() >= 0.0 and canvas.max() <= 255.0
        assert out_boxes.shape == (len(out_classes), 4)
        assert np.all(out_boxes >= 0.0) and np.all(out_boxes <= 1.0)
        assert np.all(out_boxes[:, 2:] > out_boxes[:, :2])
        for box, cls in zip(out_boxes, out_classes, strict=True):
            if min(box[2] - box[0], box[3] - box[1]) * SIZE > 4:
                _assert_box_on_its_colour(canvas, box, int(cls))
        # every rectangle pixel of a class still drawn is in one of that class's boxes
        nearest = _nearest(canvas)
        for cls in range(1, 5):
            covered = np.zeros((SIZE, SIZE), bool)
            for box in out_boxes[out_classes == cls] * SIZE:
                covered[
                    int(np.floor(box[0])) : int(np.ceil(box[2])),
                    int(np.floor(box[1])) : int(np.ceil(box[3])),
                ] = True
            solid = nearest == 1 + cls
            for axis in (0, 1):  # 3 pixels wide both ways: not a blend along an edge
                solid &= np.roll(solid, 1, axis) & np.roll(solid, -1, axis)
            if cls in out_classes:  # (a mostly cut-off box is dropped, its pixels stay)
                assert np.all(covered[solid]), cls
        seen_classes |= set(out_classes.tolist())
        seen_padding |= bool(np.any(np.all(canvas == 0.0, axis=-1)))
        seen_cut |= bool(np.any(np.isclose(out_boxes, 0.0) | np.isclose(out_boxes, 1.0)))
        seen_all_four |= len(out_classes) == 4
    assert seen_classes == {1, 2, 3, 4} and seen_padding and seen_cut and seen_all_four


def test_mosaic_is_deterministic_for_a_seed():
    images, boxes, classes = _inputs()
    a = mosaic.mosaic(images, boxes, classes, SIZE, tf.constant([5, 5]))
    b = mosaic.mosaic(images, boxes, classes, SIZE, tf.constant([5, 5]))
    c = mosaic.mosaic(images, boxes, classes, SIZE, tf.constant([6, 5]))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())


def test_mosaic_keeps_images_without_boxes_and_needs_four():
    images, boxes, classes = _inputs()
    boxes[1] = tf.zeros([0, 4], tf.float32)
    classes[1] = tf.zeros([0], tf.int32)
    _, _, out_classes = mosaic.mosaic(images, boxes, classes, SIZE, tf.constant([1, 1]))
    assert 2 not in out_classes.numpy().tolist()
    with pytest.raises(ValueError, match="4 images"):
        mosaic.mosaic(images[:3], boxes[:3], classes[:3], SIZE, tf.constant([1, 1]))


@pytest.mark.parametrize(
    ("epochs", "fraction", "expected"),
    [(30, 0.15, 25), (20, 0.15, 17), (3, 0.15, 2), (10, 0.0, 10), (10, 1.0, 0), (1, 0.5, 0)],
)
def test_mosaic_epochs_close_the_last_fraction(epochs, fraction, expected):
    assert mosaic.mosaic_epochs(epochs, fraction) == expected


def test_the_switch_is_a_lazily_made_variable():
    switch = mosaic.MosaicSwitch()
    assert switch._variable is None  # nothing made until the pipeline or a callback uses it
    assert switch.on
    switch.set(False)
    assert not switch.on and not bool(switch.variable.numpy())
    assert not mosaic.MosaicSwitch(on=False).on
