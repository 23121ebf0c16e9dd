"""Tests of components.data.preprocess: aspect-preserving resize + pad, and box frame mapping."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.data import preprocess


def _rectangle_image(h, w, box_px, colour=(200, 40, 90), background=30):
    image = np.full((h, w, 3), background, np.uint8)
    y0, x0, y1, x1 = box_px
    image[y0:y1, x0:x1] = colour
    return image


@pytest.mark.parametrize("h,w", [(30, 60), (60, 30), (40, 40), (7, 100), (200, 150)])
def test_resize_and_pad_shape_dtype_range_and_aspect(h, w):
    size = 32
    image = np.random.randint(0, 256, (h, w, 3), np.uint8)
    padded, scale = preprocess.resize_and_pad(tf.constant(image), size)
    assert padded.dtype == tf.float32 and padded.shape == (size, size, 3)
    assert scale.dtype == tf.float32
    np.testing.assert_allclose(float(scale), size / max(h, w), rtol=1e-6)
    values = padded.numpy()
    assert values.min() >= 0.0 and values.max() <= 255.0
    new_h, new_w = (int(v) for v in preprocess.content_size(h, w, size))
    assert max(new_h, new_w) == size
    assert new_h == max(1, round(h * size / max(h, w))) and new_w == max(
        1, round(w * size / max(h, w))
    )
    # Aspect ratio kept to within the rounding of the shorter side.
    assert abs(new_h / new_w - h / w) <= (h / w) * (1.0 / min(new_h, new_w))
    # Padding is bottom/right and exactly zero; the content region is not padding.
    assert np.all(values[new_h:, :, :] == 0) and np.all(values[:, new_w:, :] == 0)
    assert values[:new_h, :new_w].mean() > 20


def test_resize_and_pad_dynamic_shapes_in_tf_function_and_batches():
    size = 24

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    def single(image):
        return preprocess.resize_and_pad(image, size)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def batch(images):
        return preprocess.resize_and_pad(images, size)

    images = np.random.randint(0, 256, (2, 18, 40, 3), np.uint8)
    one, scale = single(tf.constant(images[0]))
    assert one.shape == (size, size, 3)
    both, scale_b = batch(tf.constant(images))
    assert both.shape == (2, size, size, 3)
    np.testing.assert_allclose(both[0].numpy(), one.numpy(), atol=1e-4)
    np.testing.assert_allclose(float(scale), float(scale_b))
    # Per-image sizes through tf.map_fn, as serving does for a ragged set of images.
    mapped = tf.map_fn(
        lambda im: preprocess.resize_and_pad(im, size)[0],
        tf.constant(images),
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
    )
    np.testing.assert_allclose(mapped.numpy(), both.numpy(), atol=1e-4)
    with pytest.raises(ValueError):
        preprocess.resize_and_pad(tf.zeros([5, 5]), size)


def test_uint8_and_float_inputs_give_the_same_result():
    image = np.random.randint(0, 256, (10, 13, 3), np.uint8)
    a, _ = preprocess.resize_and_pad(tf.constant(image), 16)
    b, _ = preprocess.resize_and_pad(tf.constant(image.astype(np.float32)), 16)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)


@pytest.mark.parametrize("h,w,size", [(30, 60, 32), (77, 31, 64), (480, 640, 512), (5, 5, 5)])
def test_box_mapping_round_trip_and_formula(h, w, size):
    rng = np.random.default_rng(0)
    lo = rng.uniform(0, 0.5, (10, 2))
    hi = lo + rng.uniform(0.01, 0.5, (10, 2))
    boxes = np.concatenate([lo, hi], axis=1).astype(np.float32)  # ymin, xmin, ymax, xmax
    to_input = preprocess.boxes_to_input_frame(boxes, h, w, size).numpy()
    back = preprocess.boxes_to_image_frame(to_input, h, w, size).numpy()
    np.testing.assert_allclose(back, boxes, atol=1e-6)
    # Agrees with y * h * scale / size within half a pixel of the input.
    scale = size / max(h, w)
    approx = boxes * np.array([h, w, h, w]) * scale / size
    assert np.abs(to_input - approx).max() <= 0.5 / size + 1e-6


def test_box_mapping_broadcasts_over_a_batch_of_image_sizes():
    boxes = tf.constant([[[0.1, 0.2, 0.5, 0.6]], [[0.1, 0.2, 0.5, 0.6]]], tf.float32)
    heights = tf.constant([50, 100])
    widths = tf.constant([100, 50])
    out = preprocess.boxes_to_input_frame(boxes, heights[:, None], widths[:, None], 100).numpy()
    np.testing.assert_allclose(out[0, 0], [0.05, 0.2, 0.25, 0.6], atol=1e-6)
    np.testing.assert_allclose(out[1, 0], [0.1, 0.1, 0.5, 0.3], atol=1e-6)
    clipped = preprocess.boxes_to_image_frame(tf.constant([[0.0, 0.0, 0.9, 0.9]]), 50, 100, 100)
    np.testing.assert_allclose(clipped.numpy(), [[0.0, 0.0, 1.0, 0.9]], atol=1e-6)


@pytest.mark.parametrize("h,w,box_px", [(40, 80, (10, 20, 30, 60)), (90, 45, (30, 9, 72, 36))])
def test_drawn_rectangle_stays_inside_its_mapped_box(h, w, box_px):
    size = 64
    image = _rectangle_image(h, w, box_px)
    padded, _ = preprocess.resize_and_pad(tf.constant(image), size)
    y0, x0, y1, x1 = box_px
    box = np.array([[y0 / h, x0 / w, y1 / h, x1 / w]], np.float32)
    mapped = preprocess.boxes_to_input_frame(box, h, w, size).numpy()[0] * size
    values = padded.numpy()
    ty0, tx0, ty1, tx1 = (int(round(v)) for v in mapped)
    inside = values[ty0 + 1 : ty1 - 1, tx0 + 1 : tx1 - 1]
    np.testing.assert_allclose(inside.reshape(-1, 3).mean(0), [200, 40, 90], atol=1.0)
    assert np.abs(values[ty0 - 2, tx0 + 1 : tx1 - 1] - 30).max() < 1
    assert np.abs(values[ty1 + 1, tx0 + 1 : tx1 - 1] - 30).max() < 1
    assert np.abs(values[ty0 + 1 : ty1 - 1, tx0 - 2] - 30).max() < 1
    assert np.abs(values[ty0 + 1 : ty1 - 1, tx1 + 1] - 30).max() < 1
