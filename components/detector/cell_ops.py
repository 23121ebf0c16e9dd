"""The operations a searchable cell block can use: their one registry and their Keras layers.

This module is the single list of cell operations: the detector config validates block ops
against ``op_names()``, the cell backbone builds them with ``apply_op`` and the search space
(``components.search.space.ALL_OPERATIONS``) is derived from it. Adding an operation is one
function here decorated with ``@register_op("name")``; the FLOPs counter
(``components.detector.flops``) walks the built Keras graph, so it needs nothing per op.

Every op maps a tensor with ``channels`` channels to one with ``channels`` channels at stride
1 or 2: ``op(x, channels, stride, name)``, naming its layers ``f"{name}_..."``. Convolutions
follow the NASNet order: ReLU, convolution, batch norm. Keras is imported when an op is built,
not when this module is imported (the config imports it for the names).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.errors import UserError

CellOp = Callable[[Any, int, int, str], Any]  # (x, channels, stride, name) -> tensor

_OPS: dict[str, CellOp] = {}


def register_op(name: str) -> Callable[[CellOp], CellOp]:
    """Return a decorator registering ``op(x, channels, stride, name)`` as cell op ``name``.

    Names are unique: registering a known name again is a ``ValueError`` (a programming error).
    """

    def _register(op: CellOp) -> CellOp:
        if name in _OPS:
            raise ValueError(f"cell op {name!r} is already registered")
        _OPS[name] = op
        return op

    return _register


def unregister_op(name: str) -> None:
    """Remove cell op ``name`` from the registry (for tests that register their own)."""
    _OPS.pop(name, None)


def op_names() -> tuple[str, ...]:
    """Return the names of every registered cell op, in registration order."""
    return tuple(_OPS)


def unknown_op_message(op: str) -> str:
    """Return the error message for an unknown op, listing the known ones."""
    return f"unknown cell op {op!r} (known: {', '.join(_OPS)})"


def apply_op(op: str, x, channels: int, stride: int, name: str):
    """Apply cell op ``op`` (one of ``op_names()``) to ``x``; return the new tensor.

    UserError naming the known ops when ``op`` is not registered (the config rejects it first).
    """
    try:
        function = _OPS[op]
    except KeyError:
        raise UserError(unknown_op_message(op)) from None
    return function(x, channels, stride, name)


def _batch_norm(name: str):
    from components.detector.fused_batch_norm import BatchNormalization

    return BatchNormalization(name=name)


def relu_conv_bn(x, channels: int, stride: int, name: str):
    """Return ReLU -> 1x1 convolution (stride ``stride``) -> batch norm of ``x``."""
    from keras import layers

    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(
        channels, 1, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    return _batch_norm(f"{name}_bn")(x)


def _sep_conv(x, channels: int, kernel: int, stride: int, name: str):
    from keras import layers

    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.SeparableConv2D(
        channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_sep"
    )(x)
    return _batch_norm(f"{name}_bn")(x)


# The registration order is the order of the search space's choices: keep it, append new ops.


@register_op("identity")
def _identity(x, channels: int, stride: int, name: str):
    """``x`` itself; at stride 2 a strided 1x1 convolution (a factorised reduction)."""
    return x if stride == 1 else relu_conv_bn(x, channels, stride, name)


@register_op("sep_conv_3x3")
def _sep_conv_3x3(x, channels: int, stride: int, name: str):
    return _sep_conv(x, channels, 3, stride, name)


@register_op("sep_conv_5x5")
def _sep_conv_5x5(x, channels: int, stride: int, name: str):
    return _sep_conv(x, channels, 5, stride, name)


@register_op("dil_conv_3x3")
def _dil_conv_3x3(x, channels: int, stride: int, name: str):
    from keras import layers

    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.DepthwiseConv2D(
        3, dilation_rate=2, padding="same", use_bias=False, name=f"{name}_dw"
    )(x)
    if stride > 1:  # Keras cannot combine dilation and stride: subsample the dense result
        x = layers.MaxPooling2D(1, strides=stride, name=f"{name}_subsample")(x)
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_pw")(x)
    return _batch_norm(f"{name}_bn")(x)


@register_op("conv_1x1")
def _conv_1x1(x, channels: int, stride: int, name: str):
    return relu_conv_bn(x, channels, stride, name)


@register_op("avg_pool_3x3")
def _avg_pool_3x3(x, channels: int, stride: int, name: str):
    from keras import layers

    return layers.AveragePooling2D(3, strides=stride, padding="same", name=f"{name}_avg")(x)


@register_op("max_pool_3x3")
def _max_pool_3x3(x, channels: int, stride: int, name: str):
    from keras import layers

    return layers.MaxPooling2D(3, strides=stride, padding="same", name=f"{name}_max")(x)
