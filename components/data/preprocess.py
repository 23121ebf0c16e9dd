"""The one image pre-processing of nasdet: resize keeping the aspect ratio, pad to a square.

Training, evaluation and the exported model all call :func:`resize_and_pad`, so serving sees
exactly the pre-processing the model was trained with.

Frames. A box is "in the image frame" when normalised to the original H x W image and "in the
input frame" when normalised to the S x S padded model input. The image is resized to
``content_size`` (the longer side becomes S, the other ``round(side * S / max(H, W))``) and sits
in the top-left corner, so a normalised coordinate maps as ``y_in = y * new_h / S`` and
``x_in = x * new_w / S``. This equals ``y * H * scale / S`` up to the rounding of the shorter
side (under half a pixel); :func:`boxes_to_input_frame` and :func:`boxes_to_image_frame` use the
exact resized extent and are inverse to each other.
"""

from __future__ import annotations

import tensorflow as tf


def scaled_shape(height, width, longer_side) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Return ``(new_h, new_w, scale)`` for resizing H x W so the longer side is ``longer_side``.

    ``height``, ``width`` are int or int32 scalars; ``longer_side`` an int or float scalar. ``scale``
    is float32 ``longer_side / max(H, W)``; ``new_h``, ``new_w`` are int32, rounded, at least 1.
    """
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    scale = tf.cast(longer_side, tf.float32) / tf.maximum(h, w)
    new_h = tf.maximum(tf.cast(tf.round(h * scale), tf.int32), 1)
    new_w = tf.maximum(tf.cast(tf.round(w * scale), tf.int32), 1)
    return new_h, new_w, scale


def content_size(height, width, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Return int32 ``(new_h, new_w)``: the extent of the resized image inside the S x S input.

    Element-wise, so ``height`` and ``width`` may be scalars or tensors of per-image sizes.
    """
    new_h, new_w, _ = scaled_shape(height, width, size)
    return tf.minimum(new_h, size), tf.minimum(new_w, size)


def resize_and_pad(image: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Resize ``image`` keeping its aspect ratio (longer side -> ``size``), pad bottom/right with 0.

    Takes one image [H, W, 3] or a batch of same-sized images [B, H, W, 3], any numeric dtype with
    values 0..255 (uint8 usually), with H and W static or dynamic (works inside ``tf.function``
    and ``tf.data``). Resizing is ``tf.image.resize`` bilinear (half-pixel centres, no
    antialiasing). Returns ``(padded, scale)``: float32 [size, size, 3] (or [B, size, size, 3])
    with values in 0..255, and the float32 scalar ``scale = size / max(H, W)``. Images of
    different sizes in one batch need ``tf.map_fn`` over this function (one image at a time).
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank not in (3, 4):
        raise ValueError(f"resize_and_pad expects [H, W, 3] or [B, H, W, 3], got {image.shape}")
    shape = tf.shape(image)
    height, width = shape[-3], shape[-2]
    new_h, new_w, scale = scaled_shape(height, width, size)
    new_h, new_w = tf.minimum(new_h, size), tf.minimum(new_w, size)
    resized = tf.image.resize(
        tf.cast(image, tf.float32), tf.stack([new_h, new_w]), method="bilinear"
    )
    resized = tf.clip_by_value(resized, 0.0, 255.0)
    padded = tf.image.pad_to_bounding_box(resized, 0, 0, size, size)
    if image.shape.rank == 3:
        padded.set_shape([size, size, 3])
    else:
        padded.set_shape([image.shape[0], size, size, 3])
    return padded, scale


def _frame_ratios(height, width, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    new_h, new_w = content_size(height, width, size)
    return (
        tf.cast(new_h, tf.float32) / float(size),
        tf.cast(new_w, tf.float32) / float(size),
    )


def boxes_to_input_frame(boxes: tf.Tensor, height, width, size: int) -> tf.Tensor:
    """Map boxes normalised to the original H x W image to the S x S padded input frame.

    ``boxes`` is float [..., 4] (ymin, xmin, ymax, xmax). ``height``/``width`` are the original
    image size: scalars, or tensors broadcastable to ``boxes[..., 0]`` (for a batch [B, N, 4] of
    differently sized images pass ``height[:, None]``). Returns float32 boxes of the same shape.
    """
    fy, fx = _frame_ratios(height, width, size)
    factors = tf.stack([fy, fx, fy, fx], axis=-1)
    return tf.cast(boxes, tf.float32) * factors


def boxes_to_image_frame(
    boxes: tf.Tensor, height, width, size: int, clip: bool = True
) -> tf.Tensor:
    """Map boxes normalised to the S x S padded input back to the original H x W image frame.

    The inverse of :func:`boxes_to_input_frame` (same arguments); used on detections. With
    ``clip`` (the default) the result is clipped to [0, 1], which drops the padding area.
    Returns float32 boxes of the same shape.
    """
    fy, fx = _frame_ratios(height, width, size)
    factors = tf.stack([fy, fx, fy, fx], axis=-1)
    out = tf.cast(boxes, tf.float32) / factors
    return tf.clip_by_value(out, 0.0, 1.0) if clip else out
