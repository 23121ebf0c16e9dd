"""``report.html``: one self-contained page (no external files) for the KFP UI or a browser.

It holds the blessing, the metric tables, a precision-recall plot (matplotlib, PNG) and eval
images with true (green) and predicted (red) boxes (PIL, JPEG); every picture is embedded as a
``data:`` URI so the file can be moved or served on its own.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from components.evaluate.report_md import METRIC_HELP, fmt
from components.metrics.coco_eval import METRIC_NAMES, ImageDetections, ImageTruth

MAX_SIDE = 320
MIN_SCORE = 0.3
MAX_BOXES = 20
MAX_CURVES = 10

_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}
.ok{color:#186a1e}.bad{color:#a11}
figure{display:inline-block;margin:.3em;font-size:.8em;vertical-align:top}
"""


def _data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` of ``data``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def pr_plot_png(pr_curves: dict) -> bytes:
    """A PNG of precision vs recall per class at IoU 0.5, and with several classes their mean at
    0.5 and 0.75 (drawn beneath the class curves); the legend sits outside the axes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    recall = np.asarray(pr_curves["recall"])
    fig, ax = plt.subplots(figsize=(7.2, 4.2), dpi=100)
    valid = {n: c for n, c in pr_curves["classes"].items() if min(c["iou50"]) > -1}
    if len(valid) > 1:
        for key, style, label in (("iou50", "-", "mean @0.5"), ("iou75", "--", "mean @0.75")):
            mean = np.mean([c[key] for c in valid.values()], axis=0)
            ax.plot(
                recall, mean, style, color="0.35", linewidth=3, alpha=0.5, label=label, zorder=1
            )
    for name, curve in list(valid.items())[:MAX_CURVES]:
        ax.plot(recall, curve["iou50"], linewidth=1.6, label=f"{name} @0.5", zorder=2)
        if len(valid) == 1:
            ax.plot(recall, curve["iou75"], "--", linewidth=1.4, label=f"{name} @0.75", zorder=2)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("Precision-recall (area all, 100 detections)")
    ax.grid(alpha=0.3)
    if valid:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _legend(outcomes: bool, min_score: float) -> str:
    if not outcomes:
        return f"green: ground truth; red: predictions with score >= {min_score:.2f}"
    return (
        "The images with the most errors at the best-F1 threshold first. Ground truth: green "
        f"found, orange missed; predictions with score >= {min_score:.2f}: blue correct, red "
        "false (IoU 0.5, same class)."
    )


def _operating_point_section(op: dict | None) -> str:
    if not op:
        return ""
    from components.evaluate.operating_point_plots import confusion_png, f1_plot_png

    best = op["best"]
    cm = op["confusion_matrix"]
    f1 = _data_uri(f1_plot_png(op), "image/png")
    confusion = _data_uri(confusion_png(cm["matrix"], cm["labels"], cm["threshold"]), "image/png")
    return (
        "<h2>Operating point</h2>"
        f"<p>Best F1 {best['f1']:.3f} at score threshold {best['threshold']:.2f} (precision "
        f"{best['precision']:.3f}, recall {best['recall']:.3f}, IoU 0.5): the threshold "
        "<code>nasdet predict</code> uses by default for a pushed version.</p>"
        f'<img src="{f1}" alt="precision, recall and F1 against the score threshold">'
        f'<img src="{confusion}" alt="confusion matrix at the best-F1 threshold">'
        "<p>Confusion matrix: rows are the true class, columns the predicted one; "
        "background row: false detections, background column: missed boxes.</p>"
    )


FOUND, MISSED, CORRECT, FALSE = (40, 170, 60), (245, 140, 0), (40, 110, 230), (220, 30, 30)


def draw_image(
    image: np.ndarray,
    truth: ImageTruth,
    dets: ImageDetections | None,
    names: dict[int, str],
    min_score: float = MIN_SCORE,
    outcomes: tuple[np.ndarray, np.ndarray] | None = None,
) -> bytes:
    """A JPEG of ``image`` (longer side scaled to MAX_SIDE) with its boxes.

    With ``outcomes`` (``operating_point.image_outcomes``): true boxes green when found, orange
    when missed; detections (score >= ``min_score``) blue when correct, red when false.
    Without: true boxes green, detections red.
    """
    from PIL import Image, ImageDraw, ImageFont

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    scale = MAX_SIDE / max(pil.size)
    pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))))
    w, h = pil.size
    draw = ImageDraw.Draw(pil)
    font = ImageFont.load_default(size=11)

    def rect(box, color, text, width=2):
        ymin, xmin, ymax, xmax = (float(v) for v in box)
        draw.rectangle([xmin * w, ymin * h, xmax * w, ymax * h], outline=color, width=width)
        if text:
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            x, y = xmin * w, max(0.0, ymin * h - bottom - 2)
            draw.rectangle([x, y, x + right - left + 4, y + bottom + 2], fill=color)
            draw.text((x + 2, y + 1), text, fill=(255, 255, 255), font=font)

    found = outcomes[0] if outcomes else np.ones(len(truth.classes), bool)
    for box, cls, ok in zip(truth.boxes, truth.classes, found, strict=True):
        name = names.get(int(cls), str(cls))
        rect(box, FOUND if ok else MISSED, None if ok else f"missed {name}", 2 if ok else 3)
    if dets is not None:
        correct = outcomes[1] if outcomes else np.zeros(len(dets.scores), bool)
        order = np.argsort(-dets.scores)[:MAX_BOXES]
        for i in order:
            if dets.scores[i] >= min_score:
                label = names.get(int(dets.classes[i]), str(dets.classes[i]))
                colour = CORRECT if outcomes and correct[i] else FALSE
                rect(dets.boxes[i], colour, f"{label} {dets.scores[i]:.2f}")
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _metric_table(metrics: dict, baseline: dict | None) -> str:
    """The HTML table of the 12 numbers (and the baseline's when there is one)."""
    head = "<tr><th>metric</th><th>meaning</th><th>candidate</th>"
    head += "<th>baseline</th></tr>" if baseline is not None else "</tr>"
    rows = []
    for n in METRIC_NAMES:
        cells = f"<td>{n}</td><td>{html.escape(METRIC_HELP[n])}</td><td>{fmt(metrics[n])}</td>"
        if baseline is not None:
            cells += f"<td>{fmt(baseline.get(n))}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _class_table(per_class: dict, deltas: dict | None) -> str:
    """The HTML table of per-class AP (with the baseline's and the delta), AP50, AP75, AR100."""

    def delta_cells(name: str) -> str:
        if deltas is None:
            return ""
        d = deltas.get(name, {})
        delta = d.get("delta")
        return f"<td>{fmt(d.get('baseline_AP'))}</td><td>{'n/a' if delta is None else f'{delta:+.4f}'}</td>"

    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{r.get('num_boxes', '')}</td><td>{fmt(r['AP'])}</td>"
        f"{delta_cells(name)}<td>{fmt(r['AP50'])}</td>"
        f"<td>{fmt(r['AP75'])}</td><td>{fmt(r['AR100'])}</td></tr>"
        for name, r in per_class.items()
    )
    extra = "<th>baseline AP</th><th>delta</th>" if deltas is not None else ""
    return (
        f"<table><tr><th>class</th><th>eval boxes</th><th>AP</th>{extra}<th>AP50</th>"
        f"<th>AP75</th><th>AR100</th></tr>{rows}</table>"
    )


def render(
    metrics: dict,
    blessing: dict,
    pr_curves: dict,
    samples: list[tuple[np.ndarray, ImageTruth, ImageDetections | None]],
    names: dict[int, str],
    operating_point: dict | None = None,
) -> str:
    """The complete HTML page; ``samples`` are (image, truth, detections[, outcomes]) to draw;
    ``operating_point`` (``evaluate.step``'s) adds the F1 curve and the confusion matrix and
    sets the score from which predictions are drawn."""
    verdict = "BLESSED" if blessing["blessed"] else "NOT BLESSED"
    css = "ok" if blessing["blessed"] else "bad"
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in blessing["reasons"])
    plot = _data_uri(pr_plot_png(pr_curves), "image/png")
    min_score = operating_point["best"]["threshold"] if operating_point else MIN_SCORE
    figures = []
    for image, truth, dets, *rest in samples:
        outcomes = rest[0] if rest else None
        picture = draw_image(image, truth, dets, names, min_score, outcomes)
        uri = _data_uri(picture, "image/jpeg")
        caption = html.escape(truth.source_id or str(truth.image_id))
        if outcomes is not None:
            caption += f": {int((~outcomes[0]).sum())} missed, {int((~outcomes[1]).sum())} false"
        figures.append(
            f'<figure><img src="{uri}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
        )
    summary = (
        f"{metrics['num_images']} images, {metrics['num_ground_truth']} ground-truth boxes, "
        f"{metrics['num_detections']} detections; evaluator {html.escape(metrics['evaluator'])}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Evaluation report</title><style>{_STYLE}</style></head><body>"
        f'<h1>Evaluation report</h1><h2 class="{css}">{verdict}</h2><ul>{reasons}</ul>'
        f"<p>{summary}</p>"
        f"<h2>COCO metrics</h2>{_metric_table(metrics, blessing.get('baseline'))}"
        "<p>n/a: no ground truth in that size range.</p>"
        f"<h2>Per-class AP</h2>{_class_table(metrics['per_class'], blessing.get('class_deltas') if blessing.get('baseline') else None)}"
        f'<h2>Precision-recall</h2><img src="{plot}" alt="precision-recall curves">'
        f"{_operating_point_section(operating_point)}"
        f"<h2>{'Worst test images' if operating_point else 'Eval images'}</h2>"
        f"<p>{_legend(bool(operating_point), min_score)}</p>{''.join(figures)}"
        "</body></html>\n"
    )
