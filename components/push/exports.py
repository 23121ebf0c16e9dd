"""The serving formats a push writes into the version beside the SavedModel: ``exports/<format>/``.

The formats are names of ``components.export.formats.FORMATS`` (``nasdet push --export
onnx,openvino``, the pipeline parameter ``export_formats``). Each is made by ``nasdet
export``'s own code (``components.export.run``) from the source SavedModel, with its parity
check on: the test split of the evaluated Examples when the push can read it (detections and
COCO AP), else the bundled raccoon images (detections only). Its folder is what ``nasdet
export`` writes (the file, the model's ``detector_config.json`` and ``labels.json``, which the
raw formats' runners read from that folder, and ``export.json`` with the parity numbers and the
latency beside the SavedModel's), its paths made relative to the version folder. The folders
go into the staged version before the load check, so the version published is the copy that
was load-checked, exports included; ``push.json`` records a summary under ``exports``.

A format that cannot be made or fails its parity check refuses the push: one line naming the
format and why, and nothing is published. Publishing without it would hand whoever reads
``exports/<format>`` of the newest version a version without the file they asked for, or make
them fall back to an older version's file that no longer matches the served SavedModel; a
refused run is visible, and running again without the format publishes the model.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence

from components import files
from components.artifacts import serving
from components.artifacts.examples import SPLIT_DIR
from components.errors import UserError
from components.export import formats
from components.files import join

PARITY_SPLIT = "test"


def check(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` when each is a known format whose packages are installed; UserError (one
    line, listing the known formats or naming the missing packages) otherwise."""
    for name in names:
        formats.get_format(name).require_packages()
    return tuple(names)


def parity_examples(examples_dir: str | None) -> str | None:
    """``examples_dir`` when it has a test split the parity check can run on, else None (the
    bundled images)."""
    if examples_dir and files.is_dir(join(examples_dir, SPLIT_DIR.format(split=PARITY_SPLIT))):
        return examples_dir
    return None


def write(location, staged_dir: str, names: Sequence[str], examples_dir: str | None) -> dict:
    """Export the model at ``location`` into ``staged_dir/exports/<format>/`` for each name.

    Returns ``{format: {"folder", "file", "precision", "nms_in_graph", "parity", "latency"}}``
    (paths relative to the version folder), ``push.json``'s ``exports``. Raises UserError when
    a format cannot be made or fails its parity check.
    """
    if not names:
        return {}
    from components.export import run
    from components.export.step import EXPORT_FILE

    examples = parity_examples(examples_dir)
    summary = {}
    with tempfile.TemporaryDirectory(prefix="nasdet-push-exports-") as scratch:
        for name in names:
            local = os.path.join(scratch, name)
            try:
                record = run(location.root, name, output_dir=local, examples=examples)
            except Exception as err:  # noqa: BLE001 - a converter's own failure, in one line
                why = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
                raise UserError(
                    f"the {name} export failed, nothing was published: {' '.join(why.split())}"
                ) from err
            folder = f"{serving.EXPORTS_DIR}/{name}"
            record.update(output_dir=folder, path=f"{folder}/{record['file']}")
            with open(os.path.join(local, EXPORT_FILE), "w", encoding="utf-8") as f:
                json.dump(record, f, indent=2)
                f.write("\n")
            files.copy_tree(local, join(staged_dir, serving.EXPORTS_DIR, name))
            summary[name] = {
                "folder": folder,
                "file": record["path"],
                "precision": record["precision"],
                "nms_in_graph": record["nms_in_graph"],
                "parity": record["parity"],
                "latency": record["latency"],
            }
    return summary
