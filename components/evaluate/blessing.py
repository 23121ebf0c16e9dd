"""The blessing decision: is the candidate good enough to push?

The rules are one typed object (``components.blessing_rules.BlessingRules``): each rule's
default and allowed range are declared there, validated in one place, and the evaluate command's
options and the pipeline parameters' defaults and bounds derive from them. Adding a rule: a field
there, its check in :func:`decide` here (and its pipeline parameter and task wiring).
The rules, in order:

1. **detections**: the candidate must detect something on the test split (scored by the COCO
   protocol: top 100 detections per image, score floor 0.001). A model with no detections is
   never blessed, whatever the other rules say.
2. **min_ap**: its COCO AP (the point estimate, the interval's centre) must be at least
   ``min_ap``, also on the first run (no baseline).
3. **baseline**: when a baseline (the model in production, or one given explicitly) was
   evaluated on the same split, the candidate must not be worse than the baseline by more than
   ``tolerance`` *with confidence*: with the paired bootstrap interval of the AP difference
   (``components.metrics.bootstrap``: the same resampled test images for both models), it is
   refused only when the whole interval lies below ``-tolerance``; a difference the test split
   cannot tell from noise passes, and the reason says so. Without an interval (a caller that
   computed none) the point estimates are compared.
4. **per-class**: with a baseline, no class with at least ``class_min_boxes`` ground-truth boxes
   in the test split may lose more than ``class_tolerance`` AP against the baseline (classes
   with fewer boxes are too noisy to judge; they are reported, not ruled on).

Every rule checked leaves a reason in plain words; a failed rule's reason starts with its name.
"""

from __future__ import annotations

from components.blessing_rules import DEFAULT_RULES, BlessingRules

__all__ = ["DEFAULT_RULES", "BlessingRules", "class_deltas", "decide"]


def _fmt(value: float) -> str:
    """An AP as text with 4 decimals."""
    return f"{value:.4f}"


def class_deltas(candidate: dict, baseline: dict | None) -> dict[str, dict]:
    """Per class: candidate AP, baseline AP (or None), delta and ground-truth box count.

    ``candidate`` / ``baseline`` are ``metrics.json``'s ``per_class`` tables (keyed by name).
    """
    rows = {}
    for name, row in candidate.items():
        base = (baseline or {}).get(name)
        ap = float(row["AP"])
        base_ap = float(base["AP"]) if base is not None else None
        valid = base_ap is not None and ap >= 0 and base_ap >= 0
        rows[name] = {
            "AP": ap,
            "baseline_AP": base_ap,
            "delta": ap - base_ap if valid else None,
            "num_boxes": int(row.get("num_boxes", 0)),
        }
    return rows


def _band(uncertainty: dict | None, key: str) -> str:
    """`` (95 % interval 0.21-0.35)`` of ``uncertainty[key]``, or ``""``."""
    band = (uncertainty or {}).get(key)
    if not band:
        return ""
    level = round(100 * float(uncertainty.get("confidence", 0.95)))
    return f" ({level} % interval {_fmt(band[0])}-{_fmt(band[1])})"


def _judge_points(ap, base_ap, rules, where, reasons, failed) -> None:
    floor = base_ap - rules.tolerance
    if ap >= floor:
        verb = "improves on" if ap > base_ap else "is within the tolerance of"
        reasons.append(
            f"AP {_fmt(ap)} {verb} the baseline{where} AP {_fmt(base_ap)} "
            f"(tolerance {_fmt(rules.tolerance)}, floor {_fmt(floor)})."
        )
    else:
        failed.append("baseline")
        reasons.append(
            f"baseline: AP {_fmt(ap)} is worse than the baseline{where} AP {_fmt(base_ap)} "
            f"by {_fmt(base_ap - ap)}, more than the tolerance {_fmt(rules.tolerance)}."
        )


def _judge_difference(ap, base_ap, diff, uncertainty, rules, where, reasons, failed) -> None:
    low, high = float(diff[0]), float(diff[1])
    level = round(100 * float(uncertainty.get("confidence", 0.95)))
    band = f"{level} % interval of the difference {low:+.4f} to {high:+.4f}"
    if high < -rules.tolerance:
        failed.append("baseline")
        reasons.append(
            f"baseline: AP {_fmt(ap)} is worse than the baseline{where} AP {_fmt(base_ap)} "
            f"with confidence: {band} (paired bootstrap over the test images) lies wholly "
            f"below -{_fmt(rules.tolerance)}."
        )
    elif low > 0:
        reasons.append(
            f"AP {_fmt(ap)} improves on the baseline{where} AP {_fmt(base_ap)} with "
            f"confidence: {band}."
        )
    else:
        reasons.append(
            f"AP {_fmt(ap)} against the baseline{where} AP {_fmt(base_ap)}: {band} (paired "
            f"bootstrap over the test images) does not show it worse by more than the tolerance "
            f"{_fmt(rules.tolerance)}."
        )


def decide(
    candidate: dict,
    baseline: dict | None,
    rules: BlessingRules = DEFAULT_RULES,
    baseline_source: str | None = None,
    baseline_note: str | None = None,
    compared: dict | None = None,
    uncertainty: dict | None = None,
) -> dict:
    """Bless or not ``candidate`` against ``rules`` and ``baseline``.

    ``candidate`` / ``baseline`` are ``metrics.json`` documents (the 12 COCO numbers,
    ``num_detections`` and ``per_class``); ``baseline`` is None when there is none
    (``baseline_note`` then says why; with a baseline, a note on how it was compared ends the
    reasons). Returns the blessing dict: ``blessed``, ``reasons``,
    ``failed`` (names of the failed rules), ``rules``, ``candidate`` / ``baseline`` (the 12
    numbers), ``class_deltas`` and ``baseline_source``. ``compared`` (default: ``candidate``)
    is the candidate's document scored the way the baseline was, for the baseline and
    per-class rules (a baseline exported before the evaluation signature). ``uncertainty`` is
    ``bootstrap.intervals(...)`` (``AP`` and, with a baseline, ``difference``); it is kept in
    the blessing and the baseline rule uses its ``difference``.
    """
    from components.metrics.coco_eval import METRIC_NAMES

    ap = float(candidate["AP"])
    reasons: list[str] = []
    failed: list[str] = []
    detections = int(candidate["num_detections"])  # metrics.json always has it
    if detections == 0:
        failed.append("detections")
        reasons.append(
            "detections: the model made no detections on the test split (COCO protocol: top 100 "
            "per image, score floor 0.001), so it detects nothing."
        )
    if ap < 0:
        failed.append("min_ap")
        reasons.append("min_ap: the test split has no ground-truth boxes, so the AP is undefined.")
    elif ap >= rules.min_ap:
        reasons.append(
            f"AP {_fmt(ap)}{_band(uncertainty, 'AP')} meets the minimum AP {_fmt(rules.min_ap)}."
        )
    else:
        failed.append("min_ap")
        reasons.append(
            f"min_ap: AP {_fmt(ap)}{_band(uncertainty, 'AP')} is below the minimum AP "
            f"{_fmt(rules.min_ap)}."
        )

    ours = compared if compared is not None else candidate
    deltas = class_deltas(ours.get("per_class", {}), baseline and baseline.get("per_class"))
    if baseline is None:
        reasons.append(baseline_note or "There is no baseline model, so no comparison was made.")
    else:
        ap = float(ours["AP"])
        base_ap = float(baseline["AP"])
        where = f" ({baseline_source})" if baseline_source else ""
        diff = (uncertainty or {}).get("difference")
        if diff is not None:
            _judge_difference(ap, base_ap, diff, uncertainty, rules, where, reasons, failed)
        else:
            _judge_points(ap, base_ap, rules, where, reasons, failed)
        judged = {n: r for n, r in deltas.items() if r["delta"] is not None}
        judged = {n: r for n, r in judged.items() if r["num_boxes"] >= rules.class_min_boxes}
        lost = {n: r for n, r in judged.items() if r["delta"] < -rules.class_tolerance}
        if lost:
            failed.append("per_class")
            worst = ", ".join(
                f"{name} {_fmt(r['baseline_AP'])} -> {_fmt(r['AP'])}"
                for name, r in sorted(lost.items(), key=lambda item: item[1]["delta"])
            )
            reasons.append(
                f"per_class: {len(lost)} class(es) lost more than {_fmt(rules.class_tolerance)} AP "
                f"against the baseline: {worst}."
            )
        elif judged:
            reasons.append(
                f"No class with at least {rules.class_min_boxes} eval boxes ({len(judged)} "
                f"judged) lost more than {_fmt(rules.class_tolerance)} AP against the baseline."
            )
        else:
            reasons.append(
                f"No class has {rules.class_min_boxes} or more eval boxes, so no class was judged "
                "against the baseline."
            )
        if baseline_note:
            reasons.append(baseline_note)
    return {
        "blessed": not failed,
        "reasons": reasons,
        "failed": failed,
        "rules": rules.to_dict(),
        "candidate": {name: candidate[name] for name in METRIC_NAMES},
        "baseline": {name: baseline[name] for name in METRIC_NAMES} if baseline else None,
        "class_deltas": deltas,
        "baseline_source": baseline_source,
        "uncertainty": uncertainty,
    }
