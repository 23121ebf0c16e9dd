"""EfficientNet-B0..B7 backbones from ``keras.applications``, cut at the stride 8/16/32 endpoints.

The top 1x1 convolution of the classifier is not used (as in EfficientDet): P3 is the output of
block 3, P4 of block 5 and P5 of block 7. The Keras model normalises 0..255 inputs itself.
"""

from __future__ import annotations

import os

import keras

from components.detector.config import DetectorConfig
from components.errors import UserError

_CONSTRUCTORS = {
    "b0": keras.applications.EfficientNetB0,
    "b1": keras.applications.EfficientNetB1,
    "b2": keras.applications.EfficientNetB2,
    "b3": keras.applications.EfficientNetB3,
    "b4": keras.applications.EfficientNetB4,
    "b5": keras.applications.EfficientNetB5,
    "b6": keras.applications.EfficientNetB6,
    "b7": keras.applications.EfficientNetB7,
}
# pyramid level -> EfficientNet block whose last layer gives that level's feature map
_LEVEL_BLOCKS = {3: 3, 4: 5, 5: 7}


def _weights_argument(weights: str) -> str | None:
    if weights == "none":
        return None
    if weights == "imagenet":
        return "imagenet"
    if not os.path.isfile(weights):
        raise UserError(f"backbone.weights: no such weights file {weights!r}")
    return weights


def build_efficientnet_backbone(config: DetectorConfig) -> keras.Model:
    """Return a Keras model mapping images [B,S,S,3] (0..255) to a dict {level: feature map}.

    Levels are ``bifpn.min_level`` .. 5 (strides 8, 16, 32). Weights follow ``backbone.weights``
    (``none``, ``imagenet``, or a local weights file; UserError when the file is missing).
    """
    cfg = config.backbone
    size = config.image_size
    network = _CONSTRUCTORS[cfg.variant](
        include_top=False,
        weights=_weights_argument(cfg.weights),
        input_shape=(size, size, 3),
    )
    last_layer_of_block: dict[int, keras.layers.Layer] = {}
    for layer in network.layers:
        name = layer.name
        if name.startswith("block") and name[5:6].isdigit():
            last_layer_of_block[int(name[5])] = layer
    levels = range(config.bifpn.min_level, 6)
    outputs = {str(lvl): last_layer_of_block[_LEVEL_BLOCKS[lvl]].output for lvl in levels}
    return keras.Model(network.input, outputs, name=f"efficientnet_{cfg.variant}")
