"""The training model: the detector plus target assignment, loss, weight decay and EMA.

``DetectorTrainer`` wraps the detector (images -> class logits, box deltas) and overrides
``compute_loss``: ground-truth boxes are assigned to the anchors inside the train step
(``targets.assign_targets``, static shapes, XLA-friendly), the focal + box loss of
``losses.detection_loss`` is added to the L2 weight decay of the kernels, and the result is
scaled for ``tf.distribute``. Keras' own ``train_step`` does the rest (loss scaling under
mixed precision, gradient clipping, the optimizer update); after it the EMA is updated.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from components.detector import losses, targets
from components.detector.config import DetectorConfig
from components.training.ema import WeightAverage


class DetectorTrainer(keras.Model):
    """Keras model for ``fit``/``evaluate`` on ``(images, {"boxes","classes","num_boxes"})``.

    ``detector`` is the model of ``build_detector(config)``, ``anchors`` its pixel anchors
    [A, 4]. ``ema_decay`` > 0 keeps a ``WeightAverage`` of the detector in ``self.ema`` (None
    otherwise); ``weight_decay`` is the L2 factor on convolution and dense kernels
    (``weight_decay * sum(w**2) / 2``, as EfficientDet). Logs ``loss`` (total, with decay),
    ``class_loss`` and ``box_loss``.
    """

    def __init__(
        self,
        detector: keras.Model,
        config: DetectorConfig,
        anchors: np.ndarray,
        ema_decay: float = 0.0,
        weight_decay: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.detector = detector
        self.config = config
        self.anchors = np.asarray(anchors, dtype=np.float32)
        self.weight_decay = float(weight_decay)
        self.ema = WeightAverage(ema_decay).track(detector) if ema_decay > 0 else None
        self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
        self.box_loss_tracker = keras.metrics.Mean(name="box_loss")
        self._decayed = [v for v in detector.trainable_variables if len(v.shape) >= 2]

    def call(self, images, training=False):
        """Return the detector outputs ``(class_logits, box_deltas)`` for ``images``."""
        return self.detector(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Return the per-replica total loss: detection loss + weight decay, scaled for replicas."""
        class_logits, box_deltas = y_pred
        anchors = tf.constant(self.anchors)
        class_targets, box_targets, num_positives = targets.assign_targets(
            y["boxes"], y["classes"], anchors, self.config
        )
        parts = losses.detection_loss(
            tf.cast(class_logits, tf.float32),
            tf.cast(box_deltas, tf.float32),
            class_targets,
            box_targets,
            num_positives,
            self.config,
            anchors=anchors,
        )
        total = parts["loss"]
        if self.weight_decay > 0 and self._decayed:
            l2 = tf.add_n(
                [tf.reduce_sum(tf.square(tf.cast(v.value, tf.float32))) for v in self._decayed]
            )
            total = total + 0.5 * self.weight_decay * l2
        images = tf.cast(tf.shape(class_logits)[0], tf.float32)
        self.class_loss_tracker.update_state(parts["class_loss"], sample_weight=images)
        self.box_loss_tracker.update_state(parts["box_loss"], sample_weight=images)
        # Gradients are summed over replicas: divide so the update follows the global mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return total / float(replicas) if replicas > 1 else total

    def train_step(self, data):
        """Keras' train step, then the EMA update (when enabled)."""
        logs = super().train_step(data)
        if self.ema is not None:
            self.ema.update(self.optimizer.iterations)
        return logs
