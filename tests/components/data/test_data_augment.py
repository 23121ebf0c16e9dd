"""Tests of components.data.augment: flip and scale jitter keep boxes on the drawn objects."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.data import augment, preprocess

COLOUR = np.array([200, 40, 90], np.float32)
BACKGROUND = 30.0


def _rectangle_image(h, w, box_px):
    image = np.full((h, w, 3), BACKGROUND, np.uint8)
    y0, x0, y1, x1 = box_px
    image[y0:y1, x0:x1] = COLOUR
    return image


def _is_background(pixels: np.ndarray) -> bool:
    """True when every pixel is the background colour (within 2) or zero padding."""
    near = np.abs(pixels - BACKGROUND).max(axis=-1) <= 2.0
    return bool(np.all(near | np.all(pixels == 0.0, axis=-1)))


def _assert_box_on_rectangle(canvas: np.ndarray, box: np.ndarray, margin: float = 1.5):
    """The pixels inside ``box`` (normalised to the canvas) are the rectangle colour, the pixels
    ``margin`` outside each unclipped side are background (or padding)."""
    size = canvas.shape[0]
    y0, x0, y1, x1 = box * size
    rows = np.arange(size) + 0.5
    inside_r = (rows >= y0 + 1) & (rows <= y1 - 1)
    inside_c = (rows >= x0 + 1) & (rows <= x1 - 1)
    assert inside_r.any() and inside_c.any(), f"box too small to check: {box * size}"
    inside = canvas[inside_r][:, inside_c]
    assert np.abs(inside - COLOUR).max() <= 2.0, (box * size, inside.reshape(-1, 3)[:3])
    for edge, outside in (
        (y0, int(np.floor(y0 - margin))),
        (y1, int(np.ceil(y1 + margin)) - 1),
    ):
        if 0.5 < edge < size - 0.5 and 0 <= outside < size:
            assert _is_background(canvas[outside, inside_c]), (edge, box * size)
    for edge, outside in (
        (x0, int(np.floor(x0 - margin))),
        (x1, int(np.ceil(x1 + margin)) - 1),
    ):
        if 0.5 < edge < size - 0.5 and 0 <= outside < size:
            assert _is_background(canvas[inside_r, outside]), (edge, box * size)


def test_flip_boxes_left_right_is_an_involution():
    boxes = tf.constant([[0.1, 0.2, 0.5, 0.7], [0.0, 0.0, 1.0, 1.0]])
    flipped = augment.flip_boxes_left_right(boxes).numpy()
    np.testing.assert_allclose(flipped, [[0.1, 0.3, 0.5, 0.8], [0.0, 0.0, 1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(augment.flip_boxes_left_right(flipped).numpy(), boxes.numpy())


def test_random_flip_moves_boxes_with_the_image_about_half_the_time():
    image = _rectangle_image(20, 40, (5, 4, 15, 14))
    box = np.array([[5 / 20, 4 / 40, 15 / 20, 14 / 40]], np.float32)
    flips = 0
    for i in range(100):
        out, boxes = augment.random_flip(tf.constant(image), tf.constant(box), tf.constant([i, 9]))
        assert out.dtype == tf.uint8
        flipped = not np.allclose(boxes.numpy(), box)
        flips += flipped
        expected = image[:, ::-1] if flipped else image
        np.testing.assert_array_equal(out.numpy(), expected)
        if flipped:
            np.testing.assert_allclose(boxes.numpy(), [[0.25, 26 / 40, 0.75, 36 / 40]], atol=1e-6)
    assert 30 <= flips <= 70


def test_scale_jitter_at_scale_one_is_resize_and_pad():
    image = _rectangle_image(30, 50, (5, 10, 20, 40))
    boxes = tf.constant([[5 / 30, 10 / 50, 20 / 30, 40 / 50]])
    canvas, out_boxes, classes = augment.scale_jitter(
        tf.constant(image), boxes, tf.constant([3]), 40, tf.constant([1, 2]), 1.0, 1.0
    )
    expected, _ = preprocess.resize_and_pad(tf.constant(image), 40)
    np.testing.assert_allclose(canvas.numpy(), expected.numpy(), atol=1e-4)
    np.testing.assert_allclose(
        out_boxes.numpy(), preprocess.boxes_to_input_frame(boxes, 30, 50, 40).numpy(), atol=1e-6
    )
    assert classes.numpy().tolist() == [3]


@pytest.mark.parametrize("shape", [(60, 80), (90, 50)])
def test_augment_keeps_boxes_aligned_with_drawn_rectangles(shape):
    h, w = shape
    size = 64
    rects = [(h // 6, w // 8, h // 2, w // 2), (h // 2 + 4, w // 2 + 6, h - h // 8, w - w // 6)]
    image = np.full((h, w, 3), BACKGROUND, np.uint8)
    for y0, x0, y1, x1 in rects:
        image[y0:y1, x0:x1] = COLOUR
    boxes = tf.constant([[y0 / h, x0 / w, y1 / h, x1 / w] for y0, x0, y1, x1 in rects], tf.float32)
    classes = tf.constant([1, 2])
    seen_flip = seen_cut = seen_small = 0
    for i in range(24):
        canvas, out_boxes, out_classes = augment.augment(
            tf.constant(image), boxes, classes, size, tf.constant([i, 5]), 0.5, 2.0
        )
        canvas, out_boxes = canvas.numpy(), out_boxes.numpy()
        assert canvas.shape == (size, size, 3) and canvas.dtype == np.float32
        assert canvas.min() >= 0.0 and canvas.max() <= 255.0
        assert out_boxes.shape[0] == out_classes.shape[0]
        assert np.all(out_boxes >= 0.0) and np.all(out_boxes <= 1.0)
        assert set(out_classes.numpy().tolist()) <= {1, 2}
        for box in out_boxes:
            _assert_box_on_rectangle(canvas, box)
        if len(out_boxes) == 2:
            # Class 1 is the top-left rectangle unless the image was flipped.
            left = out_boxes[:, 1].argmin()
            seen_flip += out_classes.numpy()[left] == 2
        seen_cut += bool(np.any(np.isclose(out_boxes * size, size)))
        seen_small += bool(canvas[size - 1, size - 1].max() == 0)
    assert seen_flip and seen_cut and seen_small  # the seeds exercised flips, crops and pads


def test_scale_jitter_drops_degenerate_boxes_with_their_classes():
    image = np.full((100, 100, 3), BACKGROUND, np.uint8)
    boxes = tf.constant([[0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.51, 0.51]])  # whole image, 1 px
    _, out_boxes, classes = augment.scale_jitter(
        tf.constant(image), boxes, tf.constant([1, 2]), 64, tf.constant([0, 0]), 0.1, 0.1
    )
    assert classes.numpy().tolist() == [1]
    np.testing.assert_allclose(out_boxes.numpy(), [[0.0, 0.0, 6 / 64, 6 / 64]], atol=1e-6)


def test_scale_jitter_drops_mostly_cut_off_boxes_and_clips_the_rest():
    # A 2x upscale of a 32 x 32 gradient image into a 32 x 32 window: the crop offset can be
    # read back from the pixel values (R = 4 * row, G = 4 * column).
    size = 32
    grid = np.arange(32) * 4
    image = np.stack(
        [np.repeat(grid[:, None], 32, 1), np.repeat(grid[None, :], 32, 0), np.zeros((32, 32))], -1
    ).astype(np.uint8)
    boxes = np.array(
        [
            [0.0, 0.0, 0.25, 0.25],
            [0.3, 0.3, 0.7, 0.7],
            [0.75, 0.5, 1.0, 1.0],
            [0.1, 0.6, 0.4, 0.9],
            [0.0, 0.0, 0.5, 0.5],
        ],
        np.float32,
    )
    classes = np.array([1, 2, 3, 4, 5], np.int32)
    kept_counts = set()
    seen_partial = seen_mostly_cut = False
    for i in range(20):
        canvas, out_boxes, out_classes = augment.scale_jitter(
            tf.constant(image),
            tf.constant(boxes),
            tf.constant(classes),
            size,
            tf.constant([i, 1]),
            2.0,
            2.0,
        )
        off_y = (canvas.numpy()[1, 1, 0] - 1) / 2
        off_x = (canvas.numpy()[1, 1, 1] - 1) / 2
        assert abs(off_y - round(off_y)) < 0.01 and abs(off_x - round(off_x)) < 0.01
        moved = boxes * 64 - np.array([round(off_y), round(off_x)] * 2)
        clipped = np.clip(moved, 0, size)
        hh, ww = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
        full = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
        keep = (hh >= 1) & (ww >= 1) & (hh * ww >= 0.25 * full)
        assert out_classes.numpy().tolist() == classes[keep].tolist()
        np.testing.assert_allclose(out_boxes.numpy(), clipped[keep] / size, atol=1e-5)
        kept_counts.add(int(keep.sum()))
        seen_partial |= bool(np.any((hh * ww < full) & keep))
        seen_mostly_cut |= bool(np.any((hh >= 1) & (ww >= 1) & ~keep))
    # Varied crops; some boxes clipped but kept, some visible but dropped as mostly cut off.
    assert len(kept_counts) >= 3 and seen_partial and seen_mostly_cut


def test_augment_is_deterministic_for_a_seed():
    image = tf.constant(np.random.randint(0, 256, (40, 30, 3), np.uint8))
    boxes = tf.constant([[0.1, 0.1, 0.9, 0.9]])
    classes = tf.constant([1])
    a = augment.augment(image, boxes, classes, 32, tf.constant([7, 7]))
    b = augment.augment(image, boxes, classes, 32, tf.constant([7, 7]))
    c = augment.augment(image, boxes, classes, 32, tf.constant([8, 7]))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())
