"""Pipeline parameter values from the command line and from code: typed, bounded, checked.

``nasdet submit`` / ``nasdet schedule`` / ``nasdet run --set`` give ``NAME=VALUE`` strings
(``parse_assignments``, ``convert``); the local runner's presets and overrides are Python
values (``check_values``). Both are checked against the declarations of ``pipelines.parameters``
(type, bounds, the parameter's own check); a bad value is a one-line ``UserError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from components.errors import UserError, did_you_mean
from pipelines.parameters import BY_NAME, Parameter

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def convert(name: str, value: str) -> Any:
    """Convert the string ``value`` of parameter ``name`` to its type; UserError when it cannot."""
    if name not in BY_NAME:
        hint = did_you_mean(name, BY_NAME) or f" (known: {', '.join(sorted(BY_NAME))})"
        raise UserError(f"unknown pipeline parameter {name!r}{hint}")
    kind = BY_NAME[name].type
    if kind is bool:
        word = value.strip().lower()
        if word not in _TRUE + _FALSE:
            raise UserError(f"parameter {name} needs true or false, got {value!r}")
        return word in _TRUE
    try:
        converted = kind(value)
    except ValueError:
        raise UserError(f"parameter {name} needs a {kind.__name__}, got {value!r}") from None
    _check_range(BY_NAME[name], converted)
    _check_value(BY_NAME[name], converted)
    return converted


def _check_range(p: Parameter, value: Any) -> None:
    """Raise UserError when ``value`` is not finite or outside the parameter's bounds."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"parameter {p.name} must be a finite number, got {value}")
    if (p.low is not None and value < p.low) or (p.high is not None and value > p.high):
        bounds = (
            f"{p.low if p.low is not None else '-inf'}..{p.high if p.high is not None else 'inf'}"
        )
        raise UserError(f"parameter {p.name} must be in {bounds}, got {value}")


def _check_value(p: Parameter, value: Any) -> None:
    """Raise UserError when the parameter's own ``check`` refuses ``value``."""
    if p.check is None:
        return
    try:
        p.check(value)
    except ValueError as err:
        raise UserError(f"parameter {p.name}: {err}") from None


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``NAME=VALUE`` strings into a ``{name: typed value}`` dict; UserError on bad input."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"expected NAME=VALUE, got {item!r}")
        values[name.strip()] = convert(name.strip(), value)
    return values


def check_values(values: Mapping[str, Any]) -> None:
    """Raise UserError when ``values`` holds an unknown name or a value of the wrong type."""
    for name, value in values.items():
        if name not in BY_NAME:
            raise UserError(f"unknown pipeline parameter {name!r}{did_you_mean(name, BY_NAME)}")
        kind = BY_NAME[name].type
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise UserError(f"parameter {name} needs a {kind.__name__}, got {value!r}")
        _check_range(BY_NAME[name], value)
        _check_value(BY_NAME[name], value)
