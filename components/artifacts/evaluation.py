"""The Evaluation artifact (evaluate writes it; push reads its blessing).

Files: ``metrics.json`` (the 12 COCO numbers, per-class AP, counts), ``blessing.json``
(blessed, reasons, candidate and baseline numbers, model and data fingerprints),
``pr_curves.json``, ``operating_point.json`` (precision / recall / F1 against confidence, the
best-F1 threshold and the confusion matrix there), ``report.md`` and ``report.html``. Importing this module never imports
TensorFlow.
"""

from __future__ import annotations

import json

from components import files
from components.errors import UserError
from components.files import join

METRICS_FILE = "metrics.json"
BLESSING_FILE = "blessing.json"
PR_CURVES_FILE = "pr_curves.json"
OPERATING_POINT_FILE = "operating_point.json"
REPORT_MD_FILE = "report.md"
REPORT_HTML_FILE = "report.html"


def read_blessing(blessing_file: str) -> dict:
    """The blessing dict of ``blessing_file`` (a blessing.json or the Evaluation dir holding it).

    Raises UserError when the file is missing, not JSON or has no boolean ``blessed``.
    """
    path = blessing_file
    if files.is_dir(path):
        path = join(path.rstrip("/"), BLESSING_FILE)
    if not files.is_file(path):
        raise UserError(f"blessing file {path} does not exist")
    try:
        data = json.loads(files.read_text(path))
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("blessed"), bool):
        raise UserError(f"{path} is not a blessing file (no boolean 'blessed')")
    return data
