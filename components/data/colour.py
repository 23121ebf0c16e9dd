"""HSV colour augmentation (Ultralytics ``RandomHSV``), stateless like ``augment``.

Three gains drawn uniformly in [-1, 1] and multiplied by ``hsv_h``, ``hsv_s``, ``hsv_v`` (the
config's ``augment`` section; Ultralytics' defaults 0.015, 0.7, 0.4) change an image's colours:
the hue is shifted by ``gain_h`` of the colour circle (Ultralytics >= 8.3.79 shifts by
``gain_h x 180`` of OpenCV's 180 hue units, the same), the saturation and the value are scaled
by ``1 + gain_s`` and ``1 + gain_v`` and clipped. Black (the padding) stays black. Boxes are
unchanged.
"""

from __future__ import annotations

import tensorflow as tf


def random_hsv(
    image: tf.Tensor, seed: tf.Tensor, hsv_h: float, hsv_s: float, hsv_v: float
) -> tf.Tensor:
    """Return ``image`` float32 [..., H, W, 3] (0..255) with a random hue, saturation and value.

    ``seed`` is a shape-[2] integer tensor; one set of gains is drawn for the whole tensor. All
    gains 0 return ``image`` itself (unchanged, no round trip through HSV). Returns float32 in
    0..255, the shape of ``image``.
    """
    if not (hsv_h or hsv_s or hsv_v):
        return image
    gains = tf.random.stateless_uniform([3], seed=seed, minval=-1.0, maxval=1.0)
    gains = gains * tf.constant([hsv_h, hsv_s, hsv_v], tf.float32)
    hsv = tf.image.rgb_to_hsv(tf.clip_by_value(tf.cast(image, tf.float32) / 255.0, 0.0, 1.0))
    hue = tf.math.floormod(hsv[..., 0] + gains[0], 1.0)
    saturation = tf.clip_by_value(hsv[..., 1] * (1.0 + gains[1]), 0.0, 1.0)
    value = tf.clip_by_value(hsv[..., 2] * (1.0 + gains[2]), 0.0, 1.0)
    rgb = tf.image.hsv_to_rgb(tf.stack([hue, saturation, value], axis=-1))
    return tf.clip_by_value(rgb * 255.0, 0.0, 255.0)
