"""Fused batch norm: the same results as the Keras layer, weights interchangeable, in the backbone."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.detector.config_load import get_preset
from components.detector.fused_batch_norm import BatchNormalization
from components.detector.model import build_backbone, build_detector
from components.train.bn_calibration import batch_norm_layers


def _pair(shape, momentum=0.9, **kwargs):
    """Return a Keras and a fused layer built for ``shape`` with the same random weights."""
    rng = np.random.default_rng(0)
    channels = shape[-1]
    weights = [
        rng.normal(size=channels).astype("float32"),  # gamma
        rng.normal(size=channels).astype("float32"),  # beta
        rng.normal(size=channels).astype("float32"),  # moving mean
        rng.uniform(0.5, 2.0, channels).astype("float32"),  # moving variance
    ]
    reference = keras.layers.BatchNormalization(momentum=momentum, **kwargs)
    fused = BatchNormalization(momentum=momentum, **kwargs)
    for layer in (reference, fused):
        layer.build(shape)
        layer.set_weights(weights)
    return reference, fused


def _run(layer, x, training):
    """Return the layer output and the gradients of a weighted sum wrt input, gamma and beta."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.range(1.0, y.shape[-1] + 1.0))
    grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
    return y, grads


@pytest.mark.parametrize("training", [True, False])
def test_matches_keras_batch_norm(training):
    x = tf.constant(np.random.default_rng(1).normal(2, 3, (4, 7, 5, 6)).astype("float32"))
    reference, fused = _pair(x.shape)
    expected, expected_grads = _run(reference, x, training)
    actual, grads = _run(fused, x, training)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-5)
    for got, want in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
    # training moves the statistics (biased batch variance, Keras momentum); inference does not
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            getattr(fused, name).numpy(), getattr(reference, name).numpy(), rtol=1e-5, atol=1e-6
        )
    moved = not np.allclose(fused.moving_mean.numpy(), _pair(x.shape)[1].moving_mean.numpy())
    assert moved == training


def test_frozen_layer_uses_the_moving_statistics():
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 3, 3, 4)).astype("float32"))
    reference, fused = _pair(x.shape)
    reference.trainable = fused.trainable = False
    np.testing.assert_allclose(
        fused(x, training=True).numpy(), reference(x, training=True).numpy(), atol=1e-5
    )


def test_other_ranks_fall_back_to_the_keras_computation():
    x = tf.constant(np.random.default_rng(3).normal(size=(8, 5)).astype("float32"))
    reference, fused = _pair(x.shape)
    np.testing.assert_allclose(
        fused(x, training=True).numpy(), reference(x, training=True).numpy(), atol=1e-5
    )
    np.testing.assert_allclose(fused.moving_variance.numpy(), reference.moving_variance.numpy())


def test_float16_inputs_keep_float32_parameters():
    x = np.random.default_rng(4).normal(1, 2, (2, 4, 4, 3)).astype("float32")
    reference, _ = _pair(x.shape)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        _, fused = _pair(x.shape)
        y = fused(tf.constant(x), training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == "float16" and fused.gamma.dtype == "float32"
    assert fused.moving_mean.dtype == "float32"
    expected = reference(tf.constant(x), training=True).numpy()
    np.testing.assert_allclose(y.numpy().astype("float32"), expected, atol=1e-2)
    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), atol=1e-3)


def _small_model(layer_class):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    return keras.Model(inputs, layer_class(name="bn")(x))


def test_weights_files_load_across_the_two_classes(tmp_path):
    source = _small_model(keras.layers.BatchNormalization)
    rng = np.random.default_rng(5)
    source.set_weights([rng.normal(size=w.shape).astype("float32") for w in source.get_weights()])
    path = str(tmp_path / "keras_bn.weights.h5")
    source.save_weights(path)
    target = _small_model(BatchNormalization)
    target.load_weights(path)
    for got, want in zip(target.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_detector_batch_norm_layers_are_all_fused():
    for preset in ("tiny", "tiny-effnet"):
        model = build_detector(get_preset(preset).replace(num_classes=2))
        found = batch_norm_layers(model)
        assert found and all(type(bn) is BatchNormalization for bn in found)


def test_efficientnet_backbone_keeps_the_weights_and_input_statistics(tmp_path):
    cfg = get_preset("tiny-effnet").replace(image_size=64)
    source = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(64, 64, 3)
    )
    rng = np.random.default_rng(6)
    for layer in source.layers:
        if isinstance(layer, keras.layers.Normalization):
            mean, variance, count = layer.get_weights()
            layer.set_weights(
                [rng.uniform(0.3, 0.6, mean.shape), np.full_like(variance, 0.05), count]
            )
        elif isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape), variance * 1.5])
    path = tmp_path / "b0.weights.h5"
    source.save_weights(path)
    source.load_weights(path)  # re-derives the Normalization statistics from the variables
    backbone = build_backbone(cfg.with_overrides({"backbone.weights": str(path)}))
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    for name in ("stem_activation", "block3b_add", "block7a_project_bn"):
        expected = keras.Model(source.input, source.get_layer(name).output)(images).numpy()
        actual = keras.Model(backbone.input, backbone.get_layer(name).output)(images).numpy()
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
