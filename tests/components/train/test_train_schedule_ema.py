"""Learning-rate schedule, weight EMA and batch-norm re-estimation of the train step."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from components.train.bn_calibration import recalibrate_batch_norm  # noqa: E402
from components.training.ema import WeightAverage  # noqa: E402
from components.training.schedule import scaled_learning_rate, warmup_cosine  # noqa: E402


def test_warmup_then_cosine_values():
    schedule = warmup_cosine(base_lr=0.1, total_steps=110, warmup_steps=10, warmup_init=0.01)
    lr = [float(schedule(step)) for step in (0, 5, 10, 60, 110, 200)]
    assert lr[0] == pytest.approx(0.01)
    assert lr[1] == pytest.approx(0.01 + 0.09 * 0.5)
    assert lr[2] == pytest.approx(0.1)
    assert lr[3] == pytest.approx(0.05, rel=1e-5)  # half way through the cosine
    assert lr[4] == pytest.approx(0.0, abs=1e-7)
    assert lr[5] == pytest.approx(0.0, abs=1e-7)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert float(restored(37)) == pytest.approx(float(schedule(37)))


def test_schedule_without_warmup_starts_at_peak():
    schedule = warmup_cosine(base_lr=0.2, total_steps=4, warmup_steps=0)
    values = [float(schedule(s)) for s in range(5)]
    expected = [0.1 * (1 + math.cos(math.pi * s / 4)) for s in range(5)]
    np.testing.assert_allclose(values, expected, atol=1e-6)


def test_learning_rate_scales_with_global_batch():
    assert scaled_learning_rate(0.08, 16) == pytest.approx(0.02)
    assert scaled_learning_rate(0.08, 16, num_replicas=4) == pytest.approx(0.08)


def _dense_model() -> keras.Model:
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_ema_warms_up_then_uses_decay():
    model = _dense_model()
    kernel = model.layers[-1].kernel
    kernel.assign(np.zeros((3, 2), np.float32))
    average = WeightAverage(0.9).track(model)
    kernel.assign(np.ones((3, 2), np.float32))
    average.update(0)  # decay min(0.9, 1/10) = 0.1
    np.testing.assert_allclose(average.shadows[0].numpy(), 0.9, rtol=1e-6)
    average.update(1000)  # decay 0.9
    np.testing.assert_allclose(average.shadows[0].numpy(), 0.9 * 0.9 + 0.1, rtol=1e-6)
    average.swap()
    np.testing.assert_allclose(kernel.numpy(), 0.91, rtol=1e-6)
    average.swap()
    np.testing.assert_allclose(kernel.numpy(), 1.0)
    average.copy_to_model()
    np.testing.assert_allclose(kernel.numpy(), 0.91, rtol=1e-6)


def test_batch_norm_recalibration_uses_the_data_statistics():
    import tensorflow as tf

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(inputs))
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(64, 4)) * [1.0, 2.0, 3.0, 4.0] + [5.0, -1.0, 0.0, 2.0]).astype(
        "float32"
    )
    dataset = tf.data.Dataset.from_tensor_slices((data, data)).batch(16)
    assert recalibrate_batch_norm(model, dataset, max_batches=10) == 4
    bn = model.layers[-1]
    np.testing.assert_allclose(bn.moving_mean.numpy(), data.mean(axis=0), atol=1e-4)
    batch_vars = data.reshape(4, 16, 4).var(axis=1).mean(axis=0)
    np.testing.assert_allclose(bn.moving_variance.numpy(), batch_vars, rtol=1e-3)
    assert bn.momentum == 0.99
