"""What the task bodies (``pipelines.tasks``) share: metrics, reports, checkpoints, production.

Imported when a task runs (in the container or the local subprocess), never by the compiler's
code path. It imports neither TensorFlow nor KFP: it works on the artifact objects it is given
(``log_metric``) and on plain files.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import math
import os
import posixpath
import re
import shutil
from collections.abc import Mapping
from typing import Any

SAMPLE_SUBDIR = ("sample", "raccoon")
# The value of ``architecture`` / ``warm_start`` that names the newest pushed version.
PRODUCTION = "production"


def checkpoint_dir(checkpoint_root: str, run_id: str, step: str) -> str | None:
    """Where ``step`` of run ``run_id`` keeps its progress: ``<root>/<run_id>/<step>``.

    Every attempt of the task (a retried pod) gets the same directory, another run another
    one. None when ``checkpoint_root`` is empty (the step's default: next to its output).
    """
    if not checkpoint_root:
        return None
    if not run_id or "{{" in run_id or "/" in run_id:
        raise ValueError(f"not a run id: {run_id!r}")
    return posixpath.join(checkpoint_root.rstrip("/") or "/", run_id, step)


def remove_checkpoints(path: str | None) -> None:
    """Remove a step's checkpoint directory after success, and its run folder once empty (a
    URI's run folder goes with its last object)."""
    if not path:
        return
    if "://" in path:
        from components import files

        files.remove_tree(path)
        return
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):  # other steps of the run still keep theirs
        os.rmdir(os.path.dirname(path))


def production_version(value: str, serving_root: str, model_name: str) -> str | None:
    """The newest pushed version's directory when ``value`` is ``production``, else None.

    None also when nothing is pushed yet (the caller then searches, or trains from scratch).
    """
    if value != PRODUCTION:
        return None
    from components.evaluate.baseline import newest_version

    location = newest_version(serving_root, model_name) if serving_root else None
    return location.root if location is not None else None


def bundled_sample() -> tuple[str, str]:
    """The bundled raccoon sample: ``(annotations_dir, images_dir)`` (VOC)."""
    import components.data

    root = os.path.join(os.path.dirname(os.path.abspath(components.data.__file__)), *SAMPLE_SUBDIR)
    return os.path.join(root, "annotations"), os.path.join(root, "images")


def flatten_numbers(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (nested) summary dict as ``{"a.b": value}``; booleans as 0/1."""
    out: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_numbers(value, f"{name}."))
        elif isinstance(value, bool):
            out[name] = 1.0 if value else 0.0
        elif isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[name] = float(value)
    return out


def log_metrics(metrics: Any, summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Log the numbers of ``summary`` on the KFP ``Metrics`` artifact; return what was logged."""
    numbers = flatten_numbers(summary, prefix)
    for name, value in numbers.items():
        metrics.log_metric(name, value)
    return numbers


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as indented JSON to the file ``path`` (parents created)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def csv_to_markdown(path: str, max_rows: int = 50) -> str:
    """A Markdown table of the CSV file ``path`` (first ``max_rows`` rows); "" when absent."""
    if not os.path.isfile(path):
        return ""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return ""
    header, body = rows[0], rows[1 : max_rows + 1]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def summary_markdown(title: str, summary: Mapping[str, Any]) -> str:
    """A Markdown page: ``title`` then one bullet per top-level summary entry."""
    lines = [f"# {title}", ""]
    for key, value in summary.items():
        text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"- **{key}**: {text}")
    return "\n".join(lines) + "\n"


_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")


def inline_images(markdown: str, base_dir: str) -> str:
    """``markdown`` with each relative PNG image link replaced by a ``data:`` URI of the file.

    The KFP UI shows a Markdown artifact on its own: a link relative to the step's output
    folder would be a broken image there. Links to missing files and absolute URLs stay.
    """

    def replace(match: re.Match) -> str:
        alt, link = match.group(1), match.group(2)
        path = os.path.join(base_dir, link)
        if "://" in link or link.startswith(("data:", "/")) or not os.path.isfile(path):
            return match.group(0)
        with open(path, "rb") as f:
            encoded = base64.b64encode(f.read()).decode("ascii")
        return f"![{alt}](data:image/png;base64,{encoded})"

    return _IMAGE_LINK.sub(replace, markdown)
