"""Count multiply-adds of a Keras model by walking its graph (every call of every layer).

FLOPs are reported as multiply-adds, as the EfficientDet paper counts them. Counted: Conv2D,
DepthwiseConv2D, SeparableConv2D and Dense (each call of a shared layer counts once per call;
nested models are walked recursively). Batch norm, activations, pooling, additions and fusion
weights are not counted.
"""

from __future__ import annotations

import math

import keras
from keras import layers


def _spatial(shape) -> int:
    return math.prod(int(d) for d in shape[1:-1])


def _layer_macs(layer, input_shape, output_shape) -> int:
    """Return multiply-adds of one call of ``layer`` (0 for layers that are not counted)."""
    if isinstance(layer, layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        channels_in = int(input_shape[-1])
        mid = channels_in * layer.depth_multiplier
        positions = _spatial(output_shape)
        return positions * (kh * kw * mid + mid * int(output_shape[-1]))
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return _spatial(output_shape) * kh * kw * int(output_shape[-1])
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        groups = getattr(layer, "groups", 1) or 1
        per_output = kh * kw * int(input_shape[-1]) // groups
        return _spatial(output_shape) * int(output_shape[-1]) * per_output
    if isinstance(layer, layers.Dense):
        positions = math.prod(int(d) for d in output_shape[1:-1])
        return positions * int(input_shape[-1]) * int(output_shape[-1])
    return 0


def count_macs(model: keras.Model) -> int:
    """Return the multiply-adds of one forward pass of ``model`` for one image (batch 1).

    The model must be built with static spatial input shapes (as ``build_detector`` does).
    """
    total = 0
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            operation = node.operation
            if isinstance(operation, keras.Model):
                total += count_macs(operation)
                continue
            if not node.input_tensors or not node.output_tensors:
                continue
            total += _layer_macs(
                operation, node.input_tensors[0].shape, node.output_tensors[0].shape
            )
    return total
