"""Training curves: the losses per epoch (train and val) and, when measured, val AP.

``curves.png`` in the Model artifact and the train step's page in the KFP UI show them; the
numbers are ``history.csv``'s.
"""

from __future__ import annotations

import csv
import io
import math

CURVES_FILE = "curves.png"
LOSSES = ("loss", "class_loss", "box_loss")


def read_history(text: str) -> list[dict[str, float]]:
    """Rows of ``history.csv`` (its text) as floats (NaN where a cell is empty)."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        rows.append({k: _float(v) for k, v in row.items()})
    return rows


def curves_png(rows: list[dict[str, float]]) -> bytes | None:
    """A PNG of the losses (and val AP / AP50 when recorded) against the epoch; None if no rows."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [r["epoch"] for r in rows]
    has_ap = any(math.isfinite(r.get("val_AP", math.nan)) for r in rows)
    fig, axes = plt.subplots(1, 2 if has_ap else 1, figsize=(11 if has_ap else 6, 4), dpi=100)
    loss_ax = axes[0] if has_ap else axes
    for i, name in enumerate(LOSSES):
        colour = f"C{i}"
        for key, style, label in ((name, "-", "train"), (f"val_{name}", "--", "val")):
            values = [r.get(key, math.nan) for r in rows]
            if any(math.isfinite(v) for v in values):
                loss_ax.plot(epochs, values, style, color=colour, label=f"{name} ({label})")
    loss_ax.set(xlabel="epoch", ylabel="loss (log scale)", title="Losses")
    loss_ax.set_yscale("log")  # the box loss is often 100x smaller than the class loss
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=7)
    if has_ap:
        ap_ax = axes[1]
        for key in ("val_AP", "val_AP50"):
            points = [(r["epoch"], r[key]) for r in rows if math.isfinite(r.get(key, math.nan))]
            ap_ax.plot(*zip(*points, strict=True), "o-", markersize=3, label=key.replace("_", " "))
        ap_ax.set(xlabel="epoch", ylabel="COCO AP", title="Val AP", ylim=(0, None))
        ap_ax.grid(alpha=0.3)
        ap_ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
