"""The training recipe's sections of the detector config: loss, optimiser and schedule,
augmentation (``components.detector.config`` assembles them into ``DetectorConfig``).

Same rules as the rest of the config: frozen dataclasses, defaults are EfficientDet-D0's,
bad values raise ``UserError`` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.detector.config_parse import check as _check
from components.detector.config_parse import check_choice as _check_choice


@dataclass(frozen=True)
class LossConfig:
    """Focal loss (sigmoid) + a box loss, both divided by N = the batch's positives +
    ``normalizer_offset`` (automl: 1.0, finite on images without boxes). ``box_loss``: ``huber``
    (``box_weight`` x Huber of the deltas / 4 N) or ``giou`` (``giou_weight`` x (1 - GIoU) / N)."""

    focal_alpha: float = 0.25
    focal_gamma: float = 1.5
    huber_delta: float = 0.1
    box_weight: float = 50.0
    normalizer_offset: float = 1.0
    box_loss: str = "huber"
    giou_weight: float = 2.0

    def __post_init__(self) -> None:
        _check(0 <= self.focal_alpha <= 1, "loss.focal_alpha must be in [0, 1]")
        _check(self.focal_gamma >= 0, "loss.focal_gamma must be >= 0")
        _check(self.huber_delta > 0, "loss.huber_delta must be > 0")
        _check(self.box_weight >= 0, "loss.box_weight must be >= 0")
        _check(self.normalizer_offset >= 0, "loss.normalizer_offset must be >= 0")
        _check_choice(self.box_loss, ("huber", "giou"), "loss.box_loss")
        _check(self.giou_weight >= 0, "loss.giou_weight must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule: ``optimizer`` sgd (momentum, L2 decay) or adamw (``momentum`` is
    its beta_1, decoupled decay), linear warm-up then cosine, clip, EMA. ``val_ap_every``: the
    train step scores COCO AP on val every that many epochs (0: never; ``history.csv``).

    ``learning_rate`` is for ``learning_rate_batch`` images per step; use
    ``scaled_learning_rate(batch_size)`` for the rate at another batch size.
    ``ema_decay`` 0 disables the moving average; ``mixed_precision`` is auto|on|off.
    ``batch_norm_momentum`` is the moving-statistics momentum of every batch-norm layer (automl:
    0.99; short runs need less, or inference-mode statistics lag far behind the weights).
    """

    learning_rate: float = 0.08
    learning_rate_batch: int = 64
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    weight_decay: float = 4e-5
    clip_norm: float = 10.0
    ema_decay: float = 0.9998
    batch_size: int = 16
    epochs: int = 50
    early_stopping_patience: int = 10
    mixed_precision: str = "auto"
    batch_norm_momentum: float = 0.99
    optimizer: str = "sgd"
    val_ap_every: int = 0

    def __post_init__(self) -> None:
        _check_choice(self.optimizer, ("sgd", "adamw"), "train.optimizer")
        _check(self.val_ap_every >= 0, "train.val_ap_every must be >= 0 (0: never)")
        _check(self.learning_rate > 0, "train.learning_rate must be > 0")
        _check(self.learning_rate_batch >= 1, "train.learning_rate_batch must be >= 1")
        _check(0 <= self.momentum < 1, "train.momentum must be in [0, 1)")
        _check(self.warmup_epochs >= 0, "train.warmup_epochs must be >= 0")
        _check(self.weight_decay >= 0, "train.weight_decay must be >= 0")
        _check(self.clip_norm >= 0, "train.clip_norm must be >= 0 (0 disables clipping)")
        _check(0 <= self.ema_decay < 1, "train.ema_decay must be in [0, 1)")
        _check(self.batch_size >= 1, "train.batch_size must be >= 1")
        _check(self.epochs >= 1, "train.epochs must be >= 1")
        _check(self.early_stopping_patience >= 0, "train.early_stopping_patience must be >= 0")
        _check(0 <= self.batch_norm_momentum < 1, "train.batch_norm_momentum must be in [0, 1)")
        _check(
            self.mixed_precision in ("auto", "on", "off"),
            f"train.mixed_precision must be auto|on|off, got {self.mixed_precision!r}",
        )

    def scaled_learning_rate(self, batch_size: int) -> float:
        """Return the peak learning rate for ``batch_size`` images per step (linear scaling)."""
        return self.learning_rate * batch_size / self.learning_rate_batch


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (train split only): flip, scale jitter, mosaic, HSV colour.

    Scale jitter: the longer side becomes ``s`` x the input size, ``s`` uniform in
    [``scale_min``, ``scale_max``] (EfficientDet). ``mosaic``: the probability of a 4-image
    mosaic (``data.mosaic``), closed for the last ceil(``close_mosaic_fraction`` x epochs)
    epochs. ``hsv_h/s/v``: colour gains (``data.colour``; Ultralytics 0.015, 0.7, 0.4)."""

    scale_min: float = 0.1
    scale_max: float = 2.0
    mosaic: float = 0.0
    close_mosaic_fraction: float = 0.15
    hsv_h: float = 0.0
    hsv_s: float = 0.0
    hsv_v: float = 0.0

    def __post_init__(self) -> None:
        _check(0 < self.scale_min <= self.scale_max, "augment: need 0 < scale_min <= scale_max")
        for name in ("mosaic", "close_mosaic_fraction", "hsv_h", "hsv_s", "hsv_v"):
            _check(0 <= getattr(self, name) <= 1, f"augment.{name} must be in [0, 1]")
