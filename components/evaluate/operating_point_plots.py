"""Pictures of the operating point for ``report.html``: P / R / F1 against confidence, and the
confusion matrix at the best-F1 threshold (matplotlib, PNG bytes)."""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def _png(fig, plt) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def f1_plot_png(curve: dict) -> bytes:
    """Precision, recall and F1 (all classes, IoU 0.5) against the score threshold."""
    plt = _pyplot()
    t = np.asarray(curve["thresholds"])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(t, curve["precision"], label="precision", linewidth=1.6)
    ax.plot(t, curve["recall"], label="recall", linewidth=1.6)
    ax.plot(t, curve["f1"], "k", label="F1", linewidth=2.2)
    best = curve["best"]
    ax.axvline(best["threshold"], color="grey", linestyle=":", linewidth=1.2)
    ax.annotate(
        f"best F1 {best['f1']:.2f} at {best['threshold']:.2f}",
        (best["threshold"], best["f1"]),
        xytext=(6, -14),
        textcoords="offset points",
        fontsize=9,
    )
    ax.set(xlabel="score threshold", ylabel="value", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title(f"Precision, recall, F1 against confidence (IoU {curve['iou']:g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    return _png(fig, plt)


def confusion_png(matrix: list[list[int]], labels: list[str], threshold: float) -> bytes:
    """The confusion matrix (rows: true class, columns: predicted; counts in the cells)."""
    plt = _pyplot()
    data = np.asarray(matrix)
    side = 1.2 + 0.55 * len(labels)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), dpi=100)
    ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(f"Confusion matrix (score >= {threshold:.2f}, IoU 0.5)", fontsize=10)
    top = data.max() if data.size else 0
    for (row, col), value in np.ndenumerate(data):
        colour = "white" if top and value > top / 2 else "black"
        ax.text(col, row, str(value), ha="center", va="center", fontsize=8, color=colour)
    return _png(fig, plt)
