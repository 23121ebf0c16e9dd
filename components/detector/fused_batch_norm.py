"""Batch normalisation with TensorFlow's fused kernel (``FusedBatchNormV3``), NHWC only.

Keras 3 on the TensorFlow backend normalises with separate ops (moments, then
``tf.nn.batch_normalization``), several passes over every feature map forward and backward.
This subclass runs one fused op instead, in training (batch statistics) and inference (moving
statistics), and falls back to the Keras computation for what the fused op cannot do (inputs
not 4-D or not normalised over the last axis, masks, renorm, synchronized, epsilon < 1.001e-5).

The result follows Keras: the moving statistics move by ``momentum`` towards the batch mean and
the biased batch variance (the fused op returns the unbiased one; it is rescaled), and
float16/bfloat16 inputs keep float32 parameters. The class is named ``BatchNormalization``, as
the Keras layer, so weights files name its variables the same way (``batch_normalization_N``)
and files written with either class load into the other.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_FUSED_DTYPES = ("float16", "bfloat16", "float32")
_MIN_EPSILON = 1.001e-5  # the fused kernel's lower bound (cuDNN)


@keras.saving.register_keras_serializable(package="nasdet")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed with the fused TensorFlow kernel."""

    def _can_fuse(self, inputs, mask) -> bool:
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and rank == 4
            and self.axis in (-1, 3)
            and not self.renorm
            and not self.synchronized
            and self.epsilon >= _MIN_EPSILON
            and inputs.dtype.name in _FUSED_DTYPES
            and inputs.shape[-1] is not None
        )

    def call(self, inputs, training=None, mask=None):
        """Normalise ``inputs`` [B, H, W, C] (batch statistics when training, else moving)."""
        inputs = tf.convert_to_tensor(inputs)
        if not self._can_fuse(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        gamma = self.gamma.value if self.scale else tf.ones([channels], tf.float32)
        beta = self.beta.value if self.center else tf.zeros([channels], tf.float32)
        gamma = tf.cast(gamma, tf.float32)
        beta = tf.cast(beta, tf.float32)
        if training and self.trainable:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
            )
            # The fused op returns the unbiased (n / (n - 1)) variance; Keras keeps the biased one.
            shape = tf.shape(inputs)
            count = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
            variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs,
                gamma,
                beta,
                mean=tf.cast(self.moving_mean.value, tf.float32),
                variance=tf.cast(self.moving_variance.value, tf.float32),
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return tf.cast(outputs, self.compute_dtype)
