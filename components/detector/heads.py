"""Class and box heads shared across pyramid levels (EfficientDet).

Each head is ``head.depth`` 3x3 (separable) convolutions of BiFPN width with swish, whose
weights are shared by all levels while batch norm is per level, then an output convolution with
``anchors_per_location * K`` (class) or ``anchors_per_location * 4`` (box) channels. The class
output bias starts at ``-log((1 - 0.01) / 0.01)`` (prior probability 0.01).
"""

from __future__ import annotations

import math

from keras import initializers, layers

from components.detector.bifpn import BN_EPSILON, BN_MOMENTUM
from components.detector.config import DetectorConfig
from components.detector.fused_batch_norm import BatchNormalization

PRIOR_PROBABILITY = 0.01


def _conv(filters: int, separable: bool, name: str, bias_initializer="zeros"):
    if separable:
        return layers.SeparableConv2D(
            filters,
            3,
            padding="same",
            depthwise_initializer=initializers.VarianceScaling(),
            pointwise_initializer=initializers.VarianceScaling(),
            bias_initializer=bias_initializer,
            name=name,
        )
    return layers.Conv2D(
        filters,
        3,
        padding="same",
        kernel_initializer=initializers.RandomNormal(stddev=0.01),
        bias_initializer=bias_initializer,
        name=name,
    )


def _head(
    features: dict[int, object], config: DetectorConfig, outputs_per_anchor: int, kind: str, bias
):
    """Return a list of [B, H*W*A, outputs_per_anchor] tensors, one per level (lowest first)."""
    width = config.bifpn.width
    per_location = config.anchors.per_location
    convs = [
        _conv(width, config.head.separable, f"{kind}_net_conv{i}") for i in range(config.head.depth)
    ]
    output_conv = _conv(
        per_location * outputs_per_anchor,
        config.head.separable,
        f"{kind}_net_out",
        bias_initializer=bias,
    )
    results = []
    for lvl in config.levels:
        x = features[lvl]
        for i, conv in enumerate(convs):
            x = conv(x)
            x = BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{kind}_net_bn{i}_p{lvl}"
            )(x)
            x = layers.Activation("swish", name=f"{kind}_net_swish{i}_p{lvl}")(x)
        x = output_conv(x)
        count = x.shape[1] * x.shape[2] * per_location
        results.append(
            layers.Reshape((count, outputs_per_anchor), name=f"{kind}_net_flat_p{lvl}")(x)
        )
    return results


def class_head(features: dict[int, object], config: DetectorConfig):
    """Return per-level class logits [B, H*W*A, K] for {level: BiFPN feature}, lowest level first."""
    bias = initializers.Constant(-math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY))
    return _head(features, config, config.num_classes, "class", bias)


def box_head(features: dict[int, object], config: DetectorConfig):
    """Return per-level box deltas [B, H*W*A, 4] for {level: BiFPN feature}, lowest level first."""
    return _head(features, config, 4, "box", "zeros")
