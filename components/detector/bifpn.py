"""BiFPN feature network with fast normalised weighted fusion (EfficientDet).

Inputs are the backbone features of levels ``min_level`` .. 5; higher levels up to
``max_level`` come from a 1x1 projection of the last feature followed by stride-2 max pools.
Each BiFPN layer runs a top-down then a bottom-up pass; every node fuses its inputs with
``sum(relu(w_i) * x_i) / (sum(relu(w_i)) + eps)`` and applies swish, a 3x3 depthwise-separable
convolution and batch norm.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from components.detector.config import DetectorConfig
from components.detector.fused_batch_norm import BatchNormalization

BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


@keras.saving.register_keras_serializable(package="nasdet")
class WeightedFusion(layers.Layer):
    """Fast normalised fusion of same-shaped tensors with learned non-negative weights."""

    def __init__(self, epsilon: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        """Create one scalar weight per input, initialised to 1."""
        self.fusion_weights = self.add_weight(
            name="fusion_weights", shape=(len(input_shape),), initializer="ones", trainable=True
        )

    def call(self, inputs):
        """Return the normalised weighted sum of the list ``inputs``."""
        weights = ops.relu(ops.cast(self.fusion_weights, inputs[0].dtype))
        total = ops.sum(weights) + ops.cast(self.epsilon, inputs[0].dtype)
        out = inputs[0] * weights[0]
        for i in range(1, len(inputs)):
            out = out + inputs[i] * weights[i]
        return out / total

    def compute_output_shape(self, input_shape):
        """Return the shape of the first input (all inputs share it)."""
        return input_shape[0]

    def get_config(self):
        """Return the layer config (for Keras serialisation)."""
        return {**super().get_config(), "epsilon": self.epsilon}


def _project(x, width: int, name: str):
    if x.shape[-1] == width:
        return x
    x = layers.Conv2D(width, 1, padding="same", name=f"{name}_conv")(x)
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)


def _fuse(inputs, width: int, name: str):
    x = WeightedFusion(name=f"{name}_fusion")(inputs)
    x = layers.Activation("swish", name=f"{name}_swish")(x)
    x = layers.SeparableConv2D(width, 3, padding="same", name=f"{name}_sepconv")(x)
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)


def _up(x, name: str):
    return layers.UpSampling2D(2, interpolation="nearest", name=name)(x)


def _down(x, name: str):
    return layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)


def bifpn_inputs(features: dict[str, object], config: DetectorConfig) -> dict[int, object]:
    """Return {level: tensor} for every BiFPN level: backbone features, then pooled extra levels.

    ``features`` maps str(level) to the backbone feature of that level (``min_level`` .. 5).
    """
    cfg = config.bifpn
    out = {lvl: features[str(lvl)] for lvl in range(cfg.min_level, min(cfg.max_level, 5) + 1)}
    last = features["5"]
    for lvl in range(6, cfg.max_level + 1):
        if lvl == 6:
            last = _project(last, cfg.width, "p6_resample")
        last = _down(last, f"p{lvl}_pool")
        out[lvl] = last
    return out


def build_bifpn(features: dict[int, object], config: DetectorConfig) -> dict[int, object]:
    """Apply ``bifpn.depth`` BiFPN layers to {level: tensor}; return {level: [B,h,w,width]}."""
    cfg = config.bifpn
    levels = cfg.levels
    width = cfg.width
    feats = {lvl: _project(features[lvl], width, f"bifpn_in_p{lvl}") for lvl in levels}
    if len(levels) == 1:  # a single level: each layer is one fusion node on that level
        only = levels[0]
        for i in range(cfg.depth):
            feats = {only: _fuse([feats[only]], width, f"bifpn{i}_p{only}")}
        return feats
    for i in range(cfg.depth):
        name = f"bifpn{i}"
        top_down = {levels[-1]: feats[levels[-1]]}
        for lvl in reversed(levels[:-1]):
            up = _up(top_down[lvl + 1], f"{name}_td_p{lvl}_up")
            top_down[lvl] = _fuse([feats[lvl], up], width, f"{name}_td_p{lvl}")
        out = {levels[0]: top_down[levels[0]]}
        for lvl in levels[1:]:
            down = _down(out[lvl - 1], f"{name}_bu_p{lvl}_down")
            middle = [] if lvl == levels[-1] else [top_down[lvl]]
            inputs = [feats[lvl], *middle, down]
            out[lvl] = _fuse(inputs, width, f"{name}_bu_p{lvl}")
        feats = out
    return feats
