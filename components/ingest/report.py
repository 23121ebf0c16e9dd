"""``report.md`` (and ``report.png``): a short human summary of an ingest run.

Built from the ``stats.json`` dict only, so it can be regenerated from an Examples artifact.
The plot (``report_plot``) is drawn with Pillow; when it cannot be drawn the report has no plot.
"""

from __future__ import annotations

import logging

from components import files
from components.ingest.report_plot import render_plot

LOG = logging.getLogger("nasdet.ingest")

PLOT_FILE = "report.png"
_BAR_WIDTH = 40


def _bar(count: int, largest: int) -> str:
    """A Markdown cell: a code span of ``#`` (at least one for a non-zero count), empty for 0."""
    if count <= 0 or largest <= 0:
        return ""
    return "`" + "#" * max(1, round(_BAR_WIDTH * count / largest)) + "`"


def _histogram_table(title: str, histogram: dict[str, int]) -> list[str]:
    largest = max(histogram.values(), default=0)
    lines = [f"| {title} | count | |", "|---|---:|---|"]
    lines += [f"| {key} | {n} | {_bar(n, largest)} |" for key, n in histogram.items()]
    return lines


def render_markdown(stats: dict, with_plot: bool) -> str:
    """Return the Markdown text of the report for the ``stats.json`` dict ``stats``."""
    images, boxes = stats["images"], stats["boxes"]
    lines = [
        "# Ingest report",
        "",
        "| | read | accepted | quarantined |",
        "|---|---:|---:|---:|",
        f"| images | {images['read']} | {images['accepted']} | {images['quarantined']} |",
        f"| boxes | {boxes['read']} | {boxes['accepted']} | {boxes['quarantined']} |",
        "",
        f"Counts reconcile (read = accepted + quarantined): {'yes' if stats['reconciled'] else 'NO'}.",
        f"Split: {stats['split_source']} (val fraction {stats['val_fraction']}, test fraction {stats['test_fraction']}); "
        + ", ".join(
            f"{name} {s['images']} images / {s['boxes']} boxes in {s['shards']} shard(s)"
            for name, s in stats["splits"].items()
        )
        + ".",
        f"Image formats: {', '.join(f'{k} {v}' for k, v in stats['image_formats'].items()) or 'none'}; "
        f"re-encoded: {stats['reencoded']}; size mismatches with the annotation: "
        f"{stats['size_mismatches']}; boxes clipped to the image: {stats['clipped_boxes']}.",
        "",
        "## Classes",
        "",
        "| id | class | boxes | images | |",
        "|---:|---|---:|---:|---|",
    ]
    classes = stats["classes"]
    largest = max((c["boxes"] for c in classes.values()), default=0)
    for name, c in sorted(classes.items(), key=lambda kv: (-kv[1]["boxes"], kv[1]["id"])):
        lines.append(
            f"| {c['id']} | {name} | {c['boxes']} | {c['images']} | {_bar(c['boxes'], largest)} |"
        )
    box = stats["box_size"]
    lines += ["", "## Box sizes", ""]
    if box["width"]:
        lines.append(
            f"Width {box['width']['min']:.0f}-{box['width']['max']:.0f} px (mean "
            f"{box['width']['mean']}), height {box['height']['min']:.0f}-{box['height']['max']:.0f} px "
            f"(mean {box['height']['mean']}); COCO areas: "
            + ", ".join(f"{k} {v}" for k, v in box["coco_area"].items())
            + "."
        )
        lines.append("")
    lines += _histogram_table("sqrt(box area), px", box["sqrt_area_histogram"])
    lines += [""] + _histogram_table("sqrt(box area / image area)", box["relative_size_histogram"])
    lines += [""] + _histogram_table("aspect ratio (w/h)", box["aspect_ratio_histogram"])
    lines += ["", "## Image sizes", ""]
    lines += _histogram_table("longer side, px", stats["image_size"]["longer_side_histogram"])
    lines += ["", "## Quarantine", ""]
    if stats["quarantine"]:
        lines += ["| kind | reason | records | boxes |", "|---|---|---:|---:|"]
        lines += [
            f"| {q['kind']} | {q['reason']} | {q['records']} | {q['boxes']} |"
            for q in stats["quarantine"]
        ]
        lines += ["", "Every record is listed in `quarantine.jsonl`."]
    else:
        lines.append("Nothing was quarantined.")
    if with_plot:
        lines += ["", f"![class histogram and box sizes]({PLOT_FILE})"]
    return "\n".join(lines) + "\n"


def write_report(stats: dict, root: str) -> list[str]:
    """Write ``report.md`` and ``report.png`` under ``root``; return their paths.

    The plot is best-effort: when Pillow cannot draw it, the report says nothing of it.
    """
    from components.artifacts.examples import REPORT_FILE

    paths = []
    try:
        png = render_plot(stats)
    except (ImportError, OSError, ValueError) as err:  # e.g. a Pillow built without FreeType
        LOG.warning("ingest: warning: no report plot: %s", err)
        png = None
    if png is not None:
        paths.append(files.join(root, PLOT_FILE))
        files.write_bytes(paths[-1], png)
    paths.append(files.join(root, REPORT_FILE))
    files.write_bytes(paths[-1], render_markdown(stats, png is not None).encode("utf-8"))
    return paths
