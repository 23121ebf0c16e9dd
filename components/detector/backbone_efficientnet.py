"""EfficientNet-B0..B7 backbones from ``keras.applications``, cut at the stride 8/16/32 endpoints.

The top 1x1 convolution of the classifier is not used (as in EfficientDet): P3 is the output of
block 3, P4 of block 5 and P5 of block 7. The Keras model normalises 0..255 inputs itself. Its
batch-norm layers are replaced by the fused ``fused_batch_norm.BatchNormalization`` (same
weights and names; the Keras layer normalises with several separate ops, slow on CPUs).
"""

from __future__ import annotations

import os

import keras

from components.detector.config import DetectorConfig
from components.detector.fused_batch_norm import BatchNormalization
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


def _fused_copy(layer: keras.layers.Layer) -> keras.layers.Layer:
    """Return a new layer like ``layer``; Keras batch norm becomes the fused subclass."""
    if type(layer) is keras.layers.BatchNormalization:
        return BatchNormalization.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())


def with_fused_batch_norm(network: keras.Model) -> keras.Model:
    """Return a copy of ``network`` with fused batch norm and the same weights."""
    copy = keras.models.clone_model(network, clone_function=_fused_copy)
    copy.set_weights(network.get_weights())
    for layer in copy.layers:
        # Normalization keeps its statistics as tensors derived from its variables.
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()
    return copy


def build_efficientnet_backbone(config: DetectorConfig) -> keras.Model:
    """Return a Keras model mapping images [B,S,S,3] (0..255) to a dict {level: feature map}.

    Levels are ``bifpn.min_level`` .. 5 (strides 8, 16, 32). Weights follow ``backbone.weights``
    (``none``, ``imagenet``, or a local weights file; UserError when the file is missing).
    """
    cfg = config.backbone
    size = config.image_size
    try:
        network = _CONSTRUCTORS[cfg.variant](
            include_top=False,
            weights=_weights_argument(cfg.weights),
            input_shape=(size, size, 3),
        )
    except (ValueError, OSError, KeyError) as err:
        if cfg.weights in ("none", "imagenet"):
            raise  # not about a weights file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"backbone.weights {cfg.weights!r} cannot be loaded into EfficientNet-{cfg.variant} "
            f"without its top: {first}"
        ) from None
    except Exception as err:  # the ImageNet download: no network, proxy, server error
        if cfg.weights != "imagenet":
            raise
        raise UserError(
            f"backbone.weights 'imagenet': downloading the Keras ImageNet weights failed "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); on a "
            "cluster without internet put the weights file on a volume and give its path"
        ) from None
    network = with_fused_batch_norm(network)
    last_layer_of_block: dict[int, keras.layers.Layer] = {}
    for layer in network.layers:
        name = layer.name
        if name.startswith("block") and name[5:6].isdigit():
            last_layer_of_block[int(name[5])] = layer
    levels = range(config.bifpn.min_level, 6)
    outputs = {str(lvl): last_layer_of_block[_LEVEL_BLOCKS[lvl]].output for lvl in levels}
    return keras.Model(network.input, outputs, name=f"efficientnet_{cfg.variant}")
