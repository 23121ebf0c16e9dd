"""The operations a searchable cell block can use, as Keras functional-API helpers.

Every op maps a tensor with ``channels`` channels to one with ``channels`` channels at stride
1 or 2. Convolutions follow the NASNet order: ReLU, convolution, batch norm.
"""

from __future__ import annotations

from keras import layers

from components.detector.fused_batch_norm import BatchNormalization


def relu_conv_bn(x, channels: int, stride: int, name: str):
    """Return ReLU -> 1x1 convolution (stride ``stride``) -> batch norm of ``x``."""
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(
        channels, 1, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def _sep_conv(x, channels: int, kernel: int, stride: int, name: str):
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.SeparableConv2D(
        channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_sep"
    )(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def _dil_conv(x, channels: int, stride: int, name: str):
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.DepthwiseConv2D(
        3, dilation_rate=2, padding="same", use_bias=False, name=f"{name}_dw"
    )(x)
    if stride > 1:  # Keras cannot combine dilation and stride: subsample the dense result
        x = layers.MaxPooling2D(1, strides=stride, name=f"{name}_subsample")(x)
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_pw")(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def apply_op(op: str, x, channels: int, stride: int, name: str):
    """Apply cell op ``op`` (one of ``config.CELL_OPS``) to ``x``; return the new tensor.

    ``identity`` at stride 2 becomes a strided 1x1 convolution (a factorised reduction).
    """
    if op == "identity":
        return x if stride == 1 else relu_conv_bn(x, channels, stride, name)
    if op == "sep_conv_3x3":
        return _sep_conv(x, channels, 3, stride, name)
    if op == "sep_conv_5x5":
        return _sep_conv(x, channels, 5, stride, name)
    if op == "dil_conv_3x3":
        return _dil_conv(x, channels, stride, name)
    if op == "conv_1x1":
        return relu_conv_bn(x, channels, stride, name)
    if op == "avg_pool_3x3":
        return layers.AveragePooling2D(3, strides=stride, padding="same", name=f"{name}_avg")(x)
    if op == "max_pool_3x3":
        return layers.MaxPooling2D(3, strides=stride, padding="same", name=f"{name}_max")(x)
    raise ValueError(f"unknown cell op {op!r}")  # config validation rejects this first
