"""The blessing rules of the evaluate step: one typed object, its defaults, ranges and validation.

Kept apart from ``components.evaluate`` (light: no TensorFlow, no step code), so the pipeline
parameters can take their defaults from it when the pipeline is compiled. What each rule means
is in ``components.evaluate.blessing``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from components.errors import UserError


def _rule(default: float, low: float, high: float | None, help: str) -> Any:
    """A rule field: its default, the range it accepts (``high`` None: no upper bound) and the
    one-line help of its command-line option."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high, "help": help})


@dataclasses.dataclass(frozen=True)
class BlessingRules:
    """What a candidate must meet to be blessed. See ``components.evaluate.blessing``.

    Each field declares its default and its range here; the evaluate command's options and the
    pipeline parameters' bounds are derived from them (:func:`bounds`, :func:`rule_fields`).
    """

    # AP 0.05 (COCO AP at IoU 0.50:0.95): 100 random boxes per image score AP 0.009 on the
    # bundled raccoon images (one class, large boxes: an easy set to guess on), a 1-epoch model
    # stays below 0.05, a usable detector (AP50 0.3 and up) is above it.
    min_ap: float = _rule(0.05, 0.0, 1.0, "minimum COCO AP to bless (0..1)")
    tolerance: float = _rule(
        0.01, 0.0, 1.0, "AP drop below the baseline refused when sure of it (paired bootstrap)"
    )
    class_tolerance: float = _rule(
        0.05, 0.0, 1.0, "allowed AP drop of one class below the baseline's (1 disables the rule)"
    )
    # 20 boxes: one box found or missed moves the class's recall by at most 5 points.
    class_min_boxes: int = _rule(
        20, 1, None, "eval boxes a class needs to be judged by --class-tolerance"
    )

    def __post_init__(self) -> None:
        for field in rule_fields():
            _check(field, getattr(self, field.name))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def rule_fields() -> tuple[dataclasses.Field, ...]:
    """The rule fields, in order (``field.metadata``: ``low``, ``high``, ``help``)."""
    return dataclasses.fields(BlessingRules)


def rule_type(field: dataclasses.Field) -> type:
    """The Python type of a rule (``int`` or ``float``)."""
    return int if field.type in (int, "int") else float


def rule_field(name: str) -> dataclasses.Field:
    """The field of rule ``name``; KeyError when there is no such rule."""
    fields = {f.name: f for f in rule_fields()}
    return fields[name]


def bounds(name: str) -> tuple[float, float | None]:
    """``(low, high)`` of rule ``name`` (``high`` None: no upper bound)."""
    field = rule_field(name)
    return field.metadata["low"], field.metadata["high"]


def _check(field: dataclasses.Field, value: Any) -> None:
    """Raise UserError when ``value`` is not of the rule's type or outside its range."""
    name, low, high = field.name, field.metadata["low"], field.metadata["high"]
    if rule_type(field) is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{name} must be an integer, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        if high is None:
            raise UserError(f"{name} must be >= {low:g}, got {value}")
        raise UserError(f"{name} must be between {low:g} and {high:g}, got {value}")


DEFAULT_RULES = BlessingRules()
