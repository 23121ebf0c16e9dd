"""Cron expressions for KFP recurring runs.

KFP's scheduler (robfig/cron) reads six fields with seconds first:
``second minute hour day-of-month month day-of-week``. Users usually write the classic five
fields (``minute hour day-of-month month day-of-week``); ``to_kfp`` accepts both, checks every
field, and returns the six-field form plus a note saying which form it read. Descriptors such as
``@daily`` and ``@every 6h`` are passed through.
"""

from __future__ import annotations

import re

from components.errors import UserError

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (name, low, high, names) of the six KFP fields
_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_EVERY = re.compile(r"^@every\s+([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def _value(text: str, field: tuple, expression: str) -> int:
    name, low, high, names = field
    if text.upper() in names:
        return names.index(text.upper()) + (1 if name == "month" else 0)
    if not text.isdigit():
        raise UserError(f"invalid cron expression {expression!r}: bad {name} value {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise UserError(
            f"invalid cron expression {expression!r}: {name} {value} is outside {low}-{high}"
        )
    return value


def _check_field(text: str, field: tuple, expression: str) -> None:
    name = field[0]
    for part in text.split(","):
        base, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            raise UserError(f"invalid cron expression {expression!r}: bad {name} step {part!r}")
        if base in ("*", "?"):
            if base == "?" and name not in ("day of month", "day of week"):
                raise UserError(f"invalid cron expression {expression!r}: '?' in the {name} field")
            continue
        low, dash, high = base.partition("-")
        first = _value(low, field, expression)
        if dash and _value(high, field, expression) < first:
            raise UserError(f"invalid cron expression {expression!r}: empty {name} range {base!r}")


def to_kfp(expression: str) -> tuple[str, str]:
    """Validate a 5- or 6-field cron ``expression``; return ``(six_field_form, note)``.

    Raises UserError (one line, naming the bad field) when the expression is invalid.
    """
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text in _DESCRIPTORS or _EVERY.match(text):
            return text, f"cron descriptor {text!r}"
        raise UserError(f"invalid cron expression {expression!r}: unknown descriptor")
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        six = ["0", *fields]
        note = f"5-field cron {text!r} read as minute hour day-of-month month day-of-week"
    elif len(fields) == 6:
        six = fields
        note = f"6-field cron {text!r} read as second minute hour day-of-month month day-of-week"
    else:
        raise UserError(
            f"invalid cron expression {expression!r}: expected 5 fields (minute hour "
            "day-of-month month day-of-week) or 6 (with seconds first), "
            f"got {len(fields)}"
        )
    for part, field in zip(six, _FIELDS, strict=True):
        _check_field(part, field, expression)
    return " ".join(six), note
