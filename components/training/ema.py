"""Exponential moving average (EMA) of the detector's weights, with the automl warm-up.

Keras 3 optimizers have ``use_ema``, but their average starts at full momentum on step 1 (no
``num_updates`` warm-up): with ``ema_momentum=0.9998`` a run of a few hundred steps exports
weights that are mostly the random initialisation. This average follows
``tf.train.ExponentialMovingAverage(decay, num_updates=step)`` as EfficientDet does:
``decay_t = min(decay, (1 + t) / (10 + t))``. It covers every float weight of the model
(trainable weights and batch-norm moving statistics) and is checkpointed with the model.
"""

from __future__ import annotations

import keras
from keras import ops


class WeightAverage(keras.layers.Layer):
    """Shadow copies of a model's float weights, updated as an exponential moving average.

    ``WeightAverage(decay).track(model)`` creates one non-trainable shadow per float weight of
    ``model``, initialised to its current value. ``update(step)`` moves the shadows towards the
    live weights (call it after each optimizer step, ``step`` = optimizer iterations);
    ``swap()`` exchanges shadow and live values (call it twice to undo).
    """

    def __init__(self, decay: float, **kwargs) -> None:
        super().__init__(trainable=False, **kwargs)
        self.decay = float(decay)
        self._sources: list = []
        self.shadows: list = []

    def track(self, model: keras.Model) -> WeightAverage:
        """Create the shadow weights for the float weights of ``model``; return ``self``."""
        if self.shadows:
            raise RuntimeError("WeightAverage already tracks a model")
        for i, var in enumerate(model.weights):
            if "float" not in str(var.dtype):
                continue
            shadow = self.add_weight(
                shape=var.shape,
                dtype="float32",
                initializer="zeros",
                trainable=False,
                aggregation="only_first_replica",
                name=f"ema_{i}",
            )
            shadow.assign(ops.cast(var.value, "float32"))
            self._sources.append(var)
            self.shadows.append(shadow)
        self.built = True
        return self

    def update(self, step) -> None:
        """Move each shadow towards its weight with ``min(decay, (1 + step) / (10 + step))``."""
        step = ops.cast(step, "float32")
        decay = ops.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for shadow, var in zip(self.shadows, self._sources, strict=True):
            value = ops.cast(var.value, "float32")
            shadow.assign(decay * shadow.value + (1.0 - decay) * value)

    def reset(self) -> None:
        """Restart the average from the current weights (after loading other weights)."""
        for shadow, var in zip(self.shadows, self._sources, strict=True):
            shadow.assign(ops.cast(var.value, "float32"))

    def swap(self) -> None:
        """Exchange the shadow values and the live weights (eager; call again to undo)."""
        for shadow, var in zip(self.shadows, self._sources, strict=True):
            live = var.value.numpy()
            var.assign(ops.cast(shadow.value, var.dtype))
            shadow.assign(live.astype("float32"))

    def copy_to_model(self) -> None:
        """Overwrite the live weights with the shadow values (for export)."""
        for shadow, var in zip(self.shadows, self._sources, strict=True):
            var.assign(ops.cast(shadow.value, var.dtype))
