"""Tests of components.data.colour: HSV gains keep shape and range, 0 gains change nothing."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.data import colour

SEED = tf.constant([3, 4])


def _image(shape=(16, 24, 3)) -> tf.Tensor:
    return tf.constant(np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32))


def test_zero_gains_are_the_identity():
    image = _image()
    assert colour.random_hsv(image, SEED, 0.0, 0.0, 0.0) is image


def test_gains_keep_shape_dtype_and_range_and_black_padding():
    image = _image((2, 16, 24, 3)).numpy()
    image[:, 10:, :, :] = 0.0  # padding
    for i in range(10):
        out = colour.random_hsv(tf.constant(image), tf.constant([i, 1]), 0.5, 0.9, 0.9).numpy()
        assert out.shape == image.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 255.0
        np.testing.assert_array_equal(out[:, 10:], 0.0)
        assert not np.allclose(out[:, :10], image[:, :10], atol=1.0)


def test_each_gain_changes_only_its_own_channel():
    image = _image()
    hsv = tf.image.rgb_to_hsv(image / 255.0).numpy()
    for gains, changed in (((0.3, 0, 0), 0), ((0, 0.7, 0), 1), ((0, 0, 0.4), 2)):
        out = colour.random_hsv(image, SEED, *gains)
        out_hsv = tf.image.rgb_to_hsv(out / 255.0).numpy()
        for channel in range(3):
            same = np.allclose(out_hsv[..., channel], hsv[..., channel], atol=2e-3)
            assert same == (channel != changed), (gains, channel)


def test_same_seed_same_colours():
    image = _image()
    a = colour.random_hsv(image, SEED, 0.015, 0.7, 0.4).numpy()
    b = colour.random_hsv(image, SEED, 0.015, 0.7, 0.4).numpy()
    c = colour.random_hsv(image, tf.constant([9, 9]), 0.015, 0.7, 0.4).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
