"""The blessing rules of the evaluate step: one typed object, its defaults and its validation.

Kept apart from ``components.evaluate`` (light: no TensorFlow, no step code), so the pipeline
parameters can take their defaults from it when the pipeline is compiled. What each rule means
is in ``components.evaluate.blessing``.
"""

from __future__ import annotations

import dataclasses
import math

from components.errors import UserError


@dataclasses.dataclass(frozen=True)
class BlessingRules:
    """What a candidate must meet to be blessed. See the module docstring for each rule."""

    # AP 0.05 (COCO AP at IoU 0.50:0.95): 100 random boxes per image score AP 0.009 on the
    # bundled raccoon images (one class, large boxes: an easy set to guess on), a 1-epoch model
    # stays below 0.05, a usable detector (AP50 0.3 and up) is above it.
    min_ap: float = 0.05
    tolerance: float = 0.01
    class_tolerance: float = 0.05
    # 20 boxes: one box found or missed moves the class's recall by at most 5 points.
    class_min_boxes: int = 20

    def __post_init__(self) -> None:
        for name in ("min_ap", "tolerance", "class_tolerance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise UserError(f"{name} must be between 0 and 1, got {value}")
        if isinstance(self.class_min_boxes, bool) or not isinstance(self.class_min_boxes, int):
            raise UserError(f"class_min_boxes must be an integer, got {self.class_min_boxes!r}")
        if self.class_min_boxes < 1:
            raise UserError(f"class_min_boxes must be >= 1, got {self.class_min_boxes}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DEFAULT_RULES = BlessingRules()
