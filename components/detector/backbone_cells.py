"""The searchable NASNet-style cell backbone, built from the plain-data cell spec in the config.

Stem (two stride-2 3x3 convolutions) to stride 4, then four stages at strides 4, 8, 16, 32.
Stages after the first start with a reduction cell; each stage has ``cells_per_stage`` normal
cells. A cell projects its two input hidden states (previous-previous and previous cell outputs)
to the stage width, runs its blocks (each: two inputs, one op each, added) and concatenates the
block outputs that no other block consumed, projected back to the stage width by a 1x1 conv.
"""

from __future__ import annotations

import keras
from keras import layers

from components.detector.cell_ops import apply_op, relu_conv_bn
from components.detector.config import CellBlock, DetectorConfig
from components.detector.fused_batch_norm import BatchNormalization


def _cell(
    prev_prev, prev, blocks: tuple[CellBlock, ...], channels: int, reduction: bool, name: str
):
    """Return the output of one cell applied to hidden states ``prev_prev`` and ``prev``."""
    if prev_prev.shape[1] != prev.shape[1]:  # the previous cell reduced: bring h0 down to h1
        h0 = relu_conv_bn(prev_prev, channels, 2, f"{name}_pre0")
    else:
        h0 = relu_conv_bn(prev_prev, channels, 1, f"{name}_pre0")
    h1 = relu_conv_bn(prev, channels, 1, f"{name}_pre1")
    states = [h0, h1]
    used: set[int] = set()
    for i, block in enumerate(blocks):
        branches = []
        for j, (index, op) in enumerate(zip(block.inputs, block.ops, strict=True)):
            stride = 2 if reduction and index < 2 else 1
            branches.append(apply_op(op, states[index], channels, stride, f"{name}_b{i}_{j}"))
            used.add(index)
        states.append(layers.Add(name=f"{name}_b{i}_add")(branches))
    unused = [s for k, s in enumerate(states[2:], start=2) if k not in used] or [states[-1]]
    out = unused[0] if len(unused) == 1 else layers.Concatenate(name=f"{name}_concat")(unused)
    return relu_conv_bn(out, channels, 1, f"{name}_out")


def build_cell_backbone(config: DetectorConfig) -> keras.Model:
    """Return a Keras model mapping images [B,S,S,3] (0..255) to a dict {level: feature map}.

    Levels are ``bifpn.min_level`` .. 5; each is the output of its stage's last cell.
    """
    spec = config.backbone.cells
    size = config.image_size
    images = keras.Input((size, size, 3), name="images")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="stem_rescale")(images)
    x = layers.Conv2D(
        spec.stem_width, 3, strides=2, padding="same", use_bias=False, name="stem_conv1"
    )(x)
    x = BatchNormalization(name="stem_bn1")(x)
    x = layers.Activation("relu", name="stem_relu1")(x)
    x = layers.Conv2D(
        spec.stage_width(0), 3, strides=2, padding="same", use_bias=False, name="stem_conv2"
    )(x)
    x = BatchNormalization(name="stem_bn2")(x)
    reduction_blocks = spec.reduction_blocks or spec.normal_blocks
    prev_prev, prev = x, x
    outputs = {}
    for stage in range(4):
        channels = spec.stage_width(stage)
        if stage > 0:
            out = _cell(prev_prev, prev, reduction_blocks, channels, True, f"stage{stage}_reduce")
            prev_prev, prev = prev, out
        for c in range(spec.cells_per_stage):
            out = _cell(
                prev_prev, prev, spec.normal_blocks, channels, False, f"stage{stage}_cell{c}"
            )
            prev_prev, prev = prev, out
        level = stage + 2
        if level >= config.bifpn.min_level:
            outputs[str(level)] = prev
    return keras.Model(images, outputs, name="cell_backbone")
