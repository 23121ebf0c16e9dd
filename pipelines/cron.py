"""Cron expressions for KFP recurring runs: the classic 5 fields to KFP's 6.

KFP's scheduler (robfig/cron) reads six fields with seconds first:
``second minute hour day-of-month month day-of-week``. Users usually write the classic five
fields (``minute hour day-of-month month day-of-week``); ``to_kfp`` puts ``0`` seconds in front
of those. Anything else (six fields, descriptors such as ``@daily`` or ``@every 6h``) is passed
on as written: the KFP server validates the expression and refuses a bad one.
"""

from __future__ import annotations

from components.errors import UserError


def to_kfp(expression: str) -> tuple[str, str]:
    """Return ``(KFP form, note)`` of the cron ``expression``; the note says how it was read.

    Only an empty expression is refused here (UserError); the KFP server validates the rest.
    """
    text = " ".join(expression.split())
    if not text:
        raise UserError("empty cron expression")
    if len(text.split(" ")) == 5 and not text.startswith("@"):
        note = f"5-field cron {text!r} read as minute hour day-of-month month day-of-week"
        return f"0 {text}", note
    return text, f"cron {text!r} passed to KFP as written"
