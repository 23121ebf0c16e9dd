"""The blessing decision: is the candidate good enough to push?

Rules: the candidate's AP must be at least ``min_ap``; and when a baseline (the model in
production, or one given explicitly) was evaluated on the same eval split, the candidate's AP
must be at least the baseline's AP minus ``tolerance``. No baseline is not an error: only the
first rule applies then. Every rule that was checked leaves a reason in plain words.
"""

from __future__ import annotations

from components.errors import UserError


def _fmt(value: float) -> str:
    """An AP as text with 4 decimals."""
    return f"{value:.4f}"


def check_rules(min_ap: float, tolerance: float) -> None:
    """Raise UserError unless 0 <= ``min_ap`` <= 1 and ``tolerance`` >= 0."""
    if not 0.0 <= min_ap <= 1.0:
        raise UserError(f"--min-ap must be between 0 and 1, got {min_ap}")
    if tolerance < 0.0:
        raise UserError(f"--tolerance must be >= 0, got {tolerance}")


def decide(
    candidate: dict[str, float],
    baseline: dict[str, float] | None,
    min_ap: float = 0.0,
    tolerance: float = 0.01,
    baseline_source: str | None = None,
    baseline_note: str | None = None,
) -> dict:
    """Bless or not ``candidate`` (12 COCO numbers) against ``min_ap`` and ``baseline``.

    ``baseline`` holds the baseline's numbers on the same split, or None when there is none
    (``baseline_note`` then says why, e.g. nothing pushed yet). Returns the blessing dict:
    ``blessed``, ``reasons`` (sentences), ``rules`` (min_ap, tolerance), ``candidate``,
    ``baseline`` (numbers or None) and ``baseline_source``.
    """
    check_rules(min_ap, tolerance)
    ap = float(candidate["AP"])
    reasons: list[str] = []
    blessed = True
    if ap < 0:
        blessed = False
        reasons.append("The eval split has no ground-truth boxes, so the model's AP is undefined.")
    elif ap >= min_ap:
        reasons.append(f"AP {_fmt(ap)} meets the minimum AP {_fmt(min_ap)}.")
    else:
        blessed = False
        reasons.append(f"AP {_fmt(ap)} is below the minimum AP {_fmt(min_ap)}.")

    if baseline is None:
        reasons.append(baseline_note or "There is no baseline model, so no comparison was made.")
    else:
        base_ap = float(baseline["AP"])
        floor = base_ap - tolerance
        where = f" ({baseline_source})" if baseline_source else ""
        if ap >= floor:
            verb = "improves on" if ap > base_ap else "is within the tolerance of"
            reasons.append(
                f"AP {_fmt(ap)} {verb} the baseline{where} AP {_fmt(base_ap)} "
                f"(tolerance {_fmt(tolerance)}, floor {_fmt(floor)})."
            )
        else:
            blessed = False
            reasons.append(
                f"AP {_fmt(ap)} is worse than the baseline{where} AP {_fmt(base_ap)} by "
                f"{_fmt(base_ap - ap)}, more than the tolerance {_fmt(tolerance)}."
            )
    return {
        "blessed": blessed,
        "reasons": reasons,
        "rules": {"min_ap": min_ap, "tolerance": tolerance},
        "candidate": dict(candidate),
        "baseline": dict(baseline) if baseline is not None else None,
        "baseline_source": baseline_source,
    }
