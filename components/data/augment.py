"""Training augmentation: random horizontal flip and EfficientDet-style scale jitter.

All randomness is stateless: every function takes a ``seed`` (int32/int64 tensor of shape [2]),
so the same seed always gives the same result, inside ``tf.data`` or eagerly. Boxes are float32
[N, 4] normalised ymin, xmin, ymax, xmax; classes int32 [N]. The other training augmentations
are ``mosaic`` and ``colour``; their settings are the config's ``augment`` section
(``AugmentConfig``), whose defaults these functions share.
"""

from __future__ import annotations

import tensorflow as tf

from components.data import preprocess
from components.detector.config import AugmentConfig

# EfficientDet's scale jitter range (google/automl: jitter_min 0.1, jitter_max 2.0).
SCALE_MIN = AugmentConfig.scale_min
SCALE_MAX = AugmentConfig.scale_max
# A box survives the jitter when at least this many pixels tall and wide on the canvas ...
MIN_BOX_PIXELS = 1.0
# ... and at least this fraction of its area is still on the canvas (otherwise it is "mostly cut off").
MIN_VISIBLE_FRACTION = 0.25


def flip_boxes_left_right(boxes: tf.Tensor) -> tf.Tensor:
    """Return normalised boxes [N, 4] mirrored left-right: x -> 1 - x (xmin and xmax swap)."""
    ymin, xmin, ymax, xmax = tf.unstack(boxes, num=4, axis=-1)
    return tf.stack([ymin, 1.0 - xmax, ymax, 1.0 - xmin], axis=-1)


def random_flip(
    image: tf.Tensor, boxes: tf.Tensor, seed: tf.Tensor, probability: float = 0.5
) -> tuple[tf.Tensor, tf.Tensor]:
    """Flip ``image`` [H, W, C] and its normalised ``boxes`` [N, 4] left-right with ``probability``.

    ``seed`` is a shape-[2] integer tensor. Returns ``(image, boxes)`` with the input dtypes.
    """
    flip = tf.random.stateless_uniform([], seed=seed) < probability
    return tf.cond(
        flip,
        lambda: (tf.reverse(image, axis=[1]), flip_boxes_left_right(boxes)),
        lambda: (image, tf.identity(boxes)),
    )


def scale_jitter(
    image: tf.Tensor,
    boxes: tf.Tensor,
    classes: tf.Tensor,
    size: int,
    seed: tf.Tensor,
    scale_min: float = SCALE_MIN,
    scale_max: float = SCALE_MAX,
    min_box_pixels: float = MIN_BOX_PIXELS,
    min_visible_fraction: float = MIN_VISIBLE_FRACTION,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Resize by a random scale of the output size, crop a random ``size`` x ``size`` window.

    EfficientDet style: draw ``s`` uniformly in [scale_min, scale_max], resize ``image`` [H, W, 3]
    (bilinear, aspect kept) so its longer side is ``s * size``, take a random ``size`` x ``size``
    window (offset 0 along a side shorter than ``size``) and pad bottom/right with 0. With
    ``scale_min == scale_max == 1`` this is exactly :func:`preprocess.resize_and_pad`.

    ``boxes`` [N, 4] are normalised to the input image, ``classes`` [N]. Boxes are shifted and
    scaled with the image and clipped to the canvas; a box whose clipped height or width is under
    ``min_box_pixels`` or that keeps less than ``min_visible_fraction`` of its area is dropped
    with its class. Returns ``(image float32 [size, size, 3] in 0..255, boxes float32 [M, 4]
    normalised to the canvas, classes [M])``.
    """
    seed_scale, seed_y, seed_x = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    shape = tf.shape(image)
    scale = tf.random.stateless_uniform([], seed=seed_scale, minval=scale_min, maxval=scale_max)
    new_h, new_w, _ = preprocess.scaled_shape(shape[0], shape[1], scale * float(size))
    resized = tf.image.resize(tf.cast(image, tf.float32), tf.stack([new_h, new_w]), "bilinear")
    resized = tf.clip_by_value(resized, 0.0, 255.0)

    def offset(extent, side_seed):
        return tf.random.stateless_uniform(
            [], seed=side_seed, minval=0, maxval=tf.maximum(extent - size, 0) + 1, dtype=tf.int32
        )

    off_y, off_x = offset(new_h, seed_y), offset(new_w, seed_x)
    window = resized[off_y : off_y + size, off_x : off_x + size]
    canvas = tf.image.pad_to_bounding_box(window, 0, 0, size, size)
    canvas.set_shape([size, size, 3])

    boxes = tf.cast(boxes, tf.float32)
    pixel_scale = tf.cast(tf.stack([new_h, new_w, new_h, new_w]), tf.float32)
    pixel_offset = tf.cast(tf.stack([off_y, off_x, off_y, off_x]), tf.float32)
    moved = boxes * pixel_scale - pixel_offset
    boxes, classes = clip_boxes_to_canvas(
        moved, classes, size, min_box_pixels, min_visible_fraction
    )
    return canvas, boxes, classes


def clip_boxes_to_canvas(
    moved: tf.Tensor,
    classes: tf.Tensor,
    size: int,
    min_box_pixels: float = MIN_BOX_PIXELS,
    min_visible_fraction: float = MIN_VISIBLE_FRACTION,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Clip pixel boxes [N, 4] to a ``size`` x ``size`` canvas; drop tiny or mostly cut ones.

    A box is kept when its clipped height and width are at least ``min_box_pixels`` and it keeps
    at least ``min_visible_fraction`` of its area. Returns ``(boxes float32 [M, 4] normalised to
    the canvas, classes [M])``.
    """
    clipped = tf.clip_by_value(moved, 0.0, float(size))
    heights = clipped[:, 2] - clipped[:, 0]
    widths = clipped[:, 3] - clipped[:, 1]
    full_area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    keep = (
        (heights >= min_box_pixels)
        & (widths >= min_box_pixels)
        & (heights * widths >= min_visible_fraction * full_area)
    )
    return tf.boolean_mask(clipped, keep) / float(size), tf.boolean_mask(classes, keep)


def augment(
    image: tf.Tensor,
    boxes: tf.Tensor,
    classes: tf.Tensor,
    size: int,
    seed: tf.Tensor,
    scale_min: float = SCALE_MIN,
    scale_max: float = SCALE_MAX,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Random horizontal flip then :func:`scale_jitter`, both driven by ``seed`` (shape [2]).

    Takes a decoded image [H, W, 3], normalised boxes [N, 4] and classes [N]; returns
    ``(image float32 [size, size, 3] in 0..255, boxes [M, 4] normalised to the canvas,
    classes [M])``.
    """
    seed_flip, seed_jitter = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image, boxes = random_flip(image, boxes, seed_flip)
    return scale_jitter(
        image, boxes, classes, size, seed_jitter, scale_min=scale_min, scale_max=scale_max
    )
