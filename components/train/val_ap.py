"""COCO AP on the val split during training, every ``train.val_ap_every`` epochs.

Adds ``val_AP`` and ``val_AP50`` to the epoch's logs (so ``history.csv`` has them, and the
curves plot) before the epoch checkpoint records the row. It scores the weights that would
be exported: the EMA when enabled. The val images and the traced detection function are made
once (:func:`components.metrics.detector_ap.make_scorer`). On a CPU-second budget the scoring
counts against it, as Ultralytics' per-epoch validation does.
"""

from __future__ import annotations

import keras

KEYS = ("AP", "AP50")


class ValidationAP(keras.callbacks.Callback):
    """Score ``detector`` on the val split after every ``every``-th epoch (and add the logs)."""

    def __init__(self, detector, config, examples_dir: str, every: int, ema=None) -> None:
        super().__init__()
        self.detector = detector
        self.config = config
        self.examples_dir = examples_dir
        self.every = int(every)
        self.ema = ema
        self._score = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: D102 - Keras hook
        if logs is None or self.every < 1 or (epoch + 1) % self.every:
            return
        if self._score is None:
            from components.metrics.detector_ap import make_scorer

            self._score = make_scorer(self.detector, self.config, self.examples_dir)
        if self.ema is not None:
            self.ema.swap()
        try:
            metrics = self._score()
        finally:
            if self.ema is not None:
                self.ema.swap()
        for key in KEYS:
            logs[f"val_{key}"] = metrics[key]
