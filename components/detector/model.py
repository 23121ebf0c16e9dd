"""``build_detector(config)``: backbone -> BiFPN -> shared class/box heads, as one Keras model.

The model maps float images [B,S,S,3] with values 0..255 (it normalises inside) to
``(class_logits [B,A,K], box_deltas [B,A,4])``, concatenated over levels in the order of
``anchors.generate_anchors``. Outputs are float32 even under a mixed-precision policy.
"""

from __future__ import annotations

import keras
from keras import layers

from components.detector import backbones
from components.detector.bifpn import bifpn_inputs, build_bifpn
from components.detector.config import DetectorConfig
from components.detector.heads import box_head, class_head


def build_backbone(config: DetectorConfig) -> keras.Model:
    """Return the backbone model of ``config`` (images -> {str(level): feature}, levels min..5).

    The builder is the one registered for ``backbone.kind`` in ``backbones``; UserError listing
    the known kinds when none is.
    """
    return backbones.get(config.backbone.kind).builder()(config)


def build_detector(config: DetectorConfig) -> keras.Model:
    """Return the detector Keras model for ``config``.

    Input ``images``: float32 [B, S, S, 3] in 0..255 with S = ``config.image_size``. Outputs
    (a tuple): ``class_logits`` [B, A, num_classes] and ``box_deltas`` [B, A, 4] (ty, tx, th, tw
    relative to the anchors), A = ``anchors.num_anchors(config)``.
    """
    size = config.image_size
    images = keras.Input((size, size, 3), name="images")
    features = build_backbone(config)(images)
    pyramid = build_bifpn(bifpn_inputs(features, config), config)
    class_levels = class_head(pyramid, config)
    box_levels = box_head(pyramid, config)

    def _join(tensors, name):
        x = (
            tensors[0]
            if len(tensors) == 1
            else layers.Concatenate(axis=1, name=f"{name}_concat")(tensors)
        )
        return layers.Activation("linear", dtype="float32", name=name)(x)

    outputs = (_join(class_levels, "class_logits"), _join(box_levels, "box_deltas"))
    detector = keras.Model(images, outputs, name=f"detector_{config.name}")
    for layer in _all_layers(detector):
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = config.train.batch_norm_momentum
    return detector


def _all_layers(model: keras.Model):
    """Yield every layer of ``model``, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer
