"""Mosaic augmentation (Ultralytics ``Mosaic`` + the zoom of its ``RandomPerspective``), stateless.

Four images, each flipped left-right at random (probability 0.5) and resized so that its longer
side is the input size S, are placed in a 2 x 2 grid on a 2S x 2S canvas around a random centre
(uniform in [S/2, 3S/2] on both axes, Ultralytics' mosaic border): the corners of the four
images (bottom-right, bottom-left, top-right, top-left) touch the centre. The rest of the canvas
is 0, the padding value of ``preprocess``. The square window centred on the canvas with side
S / z, z uniform in [``ZOOM_MIN``, ``ZOOM_MAX``] (Ultralytics' ``scale`` 0.5), is resized to
S x S: at z = 1 it is the middle S x S of the canvas (the S x S crop of Ultralytics), z < 1
zooms out (up to the whole canvas), z > 1 in. Boxes move with their images, are clipped to the
window and dropped when tiny or mostly cut off (``augment.clip_boxes_to_canvas``). Ultralytics
fills with grey 114 and adds a random translation, shear and rotation; this does not.

``MosaicSwitch`` is an on/off flag that the ``tf.data`` map reads at run time: a Keras callback
(``components.train.callbacks.CloseMosaic``) closes the mosaic for the last epochs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

from components.data import augment, preprocess

ZOOM_MIN = 0.5
ZOOM_MAX = 1.5
# Where each image sits relative to the centre, in multiples of its (height, width).
_CORNERS = ((-1, -1), (-1, 0), (0, -1), (0, 0))


class MosaicSwitch:
    """An on/off flag of the mosaic, read by the ``tf.data`` map at run time (a tf.Variable).

    The variable is made at first use (a pipeline without mosaic never makes one), on the CPU
    where ``tf.data`` runs; use it outside any ``tf.distribute`` scope.
    """

    def __init__(self, on: bool = True) -> None:
        self._initial = bool(on)
        self._variable: tf.Variable | None = None

    @property
    def variable(self) -> tf.Variable:
        """The boolean ``tf.Variable`` that the pipeline reads."""
        if self._variable is None:
            with tf.init_scope(), tf.device("/cpu:0"):
                self._variable = tf.Variable(
                    self._initial, trainable=False, dtype=tf.bool, name="mosaic_on"
                )
        return self._variable

    @property
    def on(self) -> bool:
        """Return whether the mosaic is on."""
        return bool(self.variable.numpy())

    def set(self, on: bool) -> None:
        """Turn the mosaic on or off (the elements ``tf.data`` makes next follow)."""
        self.variable.assign(bool(on))


def mosaic_epochs(epochs: int, close_fraction: float) -> int:
    """Return how many of ``epochs`` epochs use the mosaic: all but the last
    ``ceil(close_fraction x epochs)`` (at least one closed epoch when the fraction is > 0)."""
    closed = math.ceil(close_fraction * epochs - 1e-9) if close_fraction > 0 else 0
    return max(epochs - closed, 0)


def _tile(
    image: tf.Tensor, boxes: tf.Tensor, size: int, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Flip at random and resize (longer side ``size``); returns ``(tile, boxes, h, w)``."""
    image, boxes = augment.random_flip(image, boxes, seed)
    shape = tf.shape(image)
    new_h, new_w, _ = preprocess.scaled_shape(shape[0], shape[1], size)
    new_h, new_w = tf.minimum(new_h, size), tf.minimum(new_w, size)
    tile = tf.image.resize(tf.cast(image, tf.float32), tf.stack([new_h, new_w]), "bilinear")
    return tf.clip_by_value(tile, 0.0, 255.0), tf.cast(boxes, tf.float32), new_h, new_w


def mosaic(
    images: Sequence[tf.Tensor],
    boxes: Sequence[tf.Tensor],
    classes: Sequence[tf.Tensor],
    size: int,
    seed: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Return the mosaic of 4 images as ``(image, boxes, classes)`` (see the module docstring).

    ``images`` are 4 decoded images [H_i, W_i, 3] (any sizes), ``boxes`` their normalised boxes
    [N_i, 4], ``classes`` their classes [N_i]; ``seed`` a shape-[2] integer tensor. Returns
    ``(image float32 [size, size, 3] in 0..255, boxes float32 [M, 4] normalised to it,
    classes [M])``, the boxes in the order of the images.
    """
    if not len(images) == len(boxes) == len(classes) == len(_CORNERS):
        raise ValueError(f"a mosaic takes {len(_CORNERS)} images, boxes and classes")
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, len(_CORNERS) + 2))
    half, full = size // 2, 2 * size
    centre = tf.random.stateless_uniform(
        [2], seed=seeds[-2], minval=half, maxval=size + half + 1, dtype=tf.int32
    )
    canvas = tf.zeros([full, full, 3], tf.float32)
    moved_boxes = []
    for (dy, dx), image, image_boxes, tile_seed in zip(
        _CORNERS, images, boxes, seeds[: len(_CORNERS)], strict=True
    ):
        tile, image_boxes, h, w = _tile(image, image_boxes, size, tile_seed)
        y0, x0 = centre[0] + dy * h, centre[1] + dx * w  # the tile's top-left on the canvas
        top, left = tf.maximum(y0, 0), tf.maximum(x0, 0)
        bottom, right = tf.minimum(y0 + h, full), tf.minimum(x0 + w, full)
        piece = tile[top - y0 : bottom - y0, left - x0 : right - x0]
        canvas += tf.image.pad_to_bounding_box(piece, top, left, full, full)
        scale = tf.cast(tf.stack([h, w, h, w]), tf.float32)
        origin = tf.cast(tf.stack([y0, x0, y0, x0]), tf.float32)
        moved_boxes.append(tf.reshape(image_boxes, [-1, 4]) * scale + origin)

    zoom = tf.random.stateless_uniform([], seed=seeds[-1], minval=ZOOM_MIN, maxval=ZOOM_MAX)
    side = tf.clip_by_value(tf.cast(tf.round(size / zoom), tf.int32), 1, full)
    start = size - side // 2
    window = canvas[start : start + side, start : start + side]
    out = tf.clip_by_value(tf.image.resize(window, [size, size], "bilinear"), 0.0, 255.0)
    out.set_shape([size, size, 3])
    moved = (tf.concat(moved_boxes, 0) - tf.cast(start, tf.float32)) * (
        size / tf.cast(side, tf.float32)
    )
    all_classes = tf.concat([tf.reshape(c, [-1]) for c in classes], 0)
    out_boxes, out_classes = augment.clip_boxes_to_canvas(moved, all_classes, size)
    return out, out_boxes, out_classes
