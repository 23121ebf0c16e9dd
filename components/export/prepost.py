"""Pre-processing and NMS outside the graph, shared by the runners of the raw formats.

The same TensorFlow code as the SavedModel's ``serving_default`` (``components.detector.export``):
``resize_and_pad`` before the network, and after it ``make_detect_fn``'s decoding, per-class NMS
and mapping of the boxes back to the original image, called with the network's outputs in place
of the network. So a raw format differs from the SavedModel only by what its runtime computes
inside the network.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

OUTPUT_KEYS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")

Network = Callable[[np.ndarray], np.ndarray]  # float32 [1, S, S, 3] -> [1, A, K + 4]


class RawRunner:
    """Run a raw network on uint8 images [B, H, W, 3]: the detection dict of ``serving_default``.

    ``network`` maps one padded image [1, S, S, 3] to its raw output [1, A, K + 4] (class logits,
    then box deltas); the batch runs one image at a time (the raw formats are exported for
    batch 1).
    """

    def __init__(self, network: Network, config) -> None:
        import tensorflow as tf

        from components.data import preprocess
        from components.detector.anchors import num_anchors
        from components.detector.export import make_detect_fn

        self.network = network
        self.config = config
        size = int(config.image_size)
        # The "model" given to make_detect_fn is the identity on the network's outputs.
        detect = make_detect_fn(lambda outputs, training=False: outputs, config)
        anchors, classes = num_anchors(config), int(config.num_classes)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        def pre(images):
            padded, _ = preprocess.resize_and_pad(images, size)
            shape = tf.shape(images)
            return padded, tf.fill([shape[0]], shape[1]), tf.fill([shape[0]], shape[2])

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, anchors, classes], tf.float32),
                tf.TensorSpec([None, anchors, 4], tf.float32),
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None], tf.int32),
            ]
        )
        def post(class_logits, box_deltas, height, width):
            return detect((class_logits, box_deltas), height, width)

        self._pre, self._post = pre, post

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The detections of uint8 ``images`` [B, H, W, 3] (or one [H, W, 3]), as numpy."""
        images = np.asarray(images, dtype=np.uint8)
        if images.ndim == 3:
            images = images[None]
        padded, height, width = self._pre(images)
        raw = np.concatenate(
            [self.network(padded[i : i + 1].numpy()) for i in range(images.shape[0])]
        ).astype(np.float32)
        classes = int(self.config.num_classes)
        result = self._post(raw[..., :classes], raw[..., classes:], height, width)
        return {key: result[key].numpy() for key in OUTPUT_KEYS}
