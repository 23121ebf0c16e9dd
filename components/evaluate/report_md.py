"""``report.md``: the blessing, the 12 COCO numbers (with the baseline's) and per-class AP."""

from __future__ import annotations

from components.metrics.coco_eval import METRIC_NAMES

METRIC_HELP = {
    "AP": "AP at IoU 0.50:0.95",
    "AP50": "AP at IoU 0.50",
    "AP75": "AP at IoU 0.75",
    "APs": "AP, small objects (< 32x32 px)",
    "APm": "AP, medium objects",
    "APl": "AP, large objects (> 96x96 px)",
    "AR1": "AR, 1 detection per image",
    "AR10": "AR, 10 detections per image",
    "AR100": "AR, 100 detections per image",
    "ARs": "AR, small objects",
    "ARm": "AR, medium objects",
    "ARl": "AR, large objects",
}


def fmt(value: float | None) -> str:
    """A metric as text: 4 decimals, "n/a" for COCO's -1 (no ground truth) or None."""
    if value is None or value < 0:
        return "n/a"
    return f"{value:.4f}"


def _uncertainty_lines(u: dict | None) -> list[str]:
    """How sure the numbers are: bootstrap intervals over the test images."""
    if not u:
        return []
    level = round(100 * float(u.get("confidence", 0.95)))
    lines = [
        "## How sure",
        "",
        f"{level} % intervals from {u.get('samples')} bootstrap resamples of the test images:",
        "",
        f"- AP: {fmt(u['AP'][0])} to {fmt(u['AP'][1])}",
    ]
    if u.get("difference"):
        lines += [
            f"- baseline AP: {fmt(u['baseline_AP'][0])} to {fmt(u['baseline_AP'][1])}",
            f"- candidate - baseline (paired: the same resampled images for both): "
            f"{u['difference'][0]:+.4f} to {u['difference'][1]:+.4f}",
        ]
    return lines + [""]


def render(metrics: dict, blessing: dict) -> str:
    """The Markdown report of ``metrics`` (metrics.json) and ``blessing`` (blessing.json)."""
    baseline = blessing.get("baseline")
    verdict = "BLESSED" if blessing["blessed"] else "NOT BLESSED"
    lines = [
        "# Evaluation report",
        "",
        f"**{verdict}**",
        "",
        *[f"- {reason}" for reason in blessing["reasons"]],
        "",
        f"Eval split: {metrics['num_images']} images, {metrics['num_ground_truth']} ground-truth "
        f"boxes, {metrics['num_detections']} detections; evaluator: {metrics['evaluator']}.",
        "",
        "## COCO metrics",
        "",
    ]
    if baseline is not None:
        lines += ["| metric | meaning | candidate | baseline |", "|---|---|---:|---:|"]
        lines += [
            f"| {n} | {METRIC_HELP[n]} | {fmt(metrics[n])} | {fmt(baseline.get(n))} |"
            for n in METRIC_NAMES
        ]
    else:
        lines += ["| metric | meaning | value |", "|---|---|---:|"]
        lines += [f"| {n} | {METRIC_HELP[n]} | {fmt(metrics[n])} |" for n in METRIC_NAMES]
    lines += ["", "n/a: no ground truth in that size range.", ""]
    lines += _uncertainty_lines(blessing.get("uncertainty"))
    lines += [
        "## Per-class AP",
        "",
    ]
    deltas = blessing.get("class_deltas") or {}
    rules = blessing.get("rules") or {}
    if baseline is not None:
        lines += [
            "| class | eval boxes | AP | baseline AP | delta | AP50 | AP75 | AR100 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
    else:
        lines += [
            "| class | eval boxes | AP | AP50 | AP75 | AR100 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
    for name, row in metrics["per_class"].items():
        boxes = row.get("num_boxes", "")
        rest = f"{fmt(row['AP50'])} | {fmt(row['AP75'])} | {fmt(row['AR100'])}"
        if baseline is not None:
            d = deltas.get(name, {})
            delta = d.get("delta")
            text = "n/a" if delta is None else f"{delta:+.4f}"
            lines.append(
                f"| {name} | {boxes} | {fmt(row['AP'])} | {fmt(d.get('baseline_AP'))} | {text} "
                f"| {rest} |"
            )
        else:
            lines.append(f"| {name} | {boxes} | {fmt(row['AP'])} | {rest} |")
    if baseline is not None and rules:
        lines += [
            "",
            f"Classes with at least {rules['class_min_boxes']} eval boxes may lose at most "
            f"{rules['class_tolerance']:.4f} AP against the baseline.",
        ]
    return "\n".join(lines) + "\n"
