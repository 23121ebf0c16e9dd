"""Dataset reader registry: ``read_dataset(fmt, input_path, ...)`` for COCO, VOC and YOLO.

Readers parse annotation files only; image bytes are decoded later, per image, by
``components.data.validate.validate_image``. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from components import files
from components.data.coco import read_coco
from components.data.records import SourceDataset
from components.data.voc import read_voc
from components.data.yolo import read_yolo
from components.errors import UserError


def _read_coco(input_path: str, images_dir: str | None, classes_file: str | None) -> SourceDataset:
    if classes_file:
        raise UserError("--classes is not used with --format coco (the JSON has categories)")
    return read_coco(input_path, images_dir)


Reader = Callable[[str, str | None, str | None], SourceDataset]

READERS: dict[str, Reader] = {
    "coco": _read_coco,  # input: the instances JSON
    "voc": read_voc,  # input: a folder of XML files
    "yolo": read_yolo,  # input: a folder of txt label files
}
"""The annotation readers by format name: ``reader(input_path, images_dir, classes_file)``.
Adding a format is a reader module and one entry here."""

FORMATS = tuple(READERS)
"""The annotation format names (the ingest step's and ``nasdet run``'s ``--format`` choices)."""


def read_dataset(
    fmt: str,
    input_path: str,
    images_dir: str | None = None,
    classes_file: str | None = None,
) -> SourceDataset:
    """Read the dataset at ``input_path`` in format ``fmt``; return its ``SourceDataset``.

    ``fmt`` is a key of :data:`READERS`: ``coco`` (``input_path`` = instances JSON), ``voc``
    (folder of XML files) or ``yolo`` (folder of txt label files). ``images_dir`` overrides
    where images are looked up; ``classes_file`` gives class names (VOC: restricts and orders
    the classes; YOLO: required unless the label folder has ``classes.txt``; COCO: not
    accepted, categories come from the JSON). Raises ``UserError`` for an unknown format, a
    missing ``images_dir`` and for the refusals of each reader.
    """
    name = (fmt or "").strip().lower()
    if name not in READERS:
        raise UserError(f"unknown format {fmt!r} (choose one of: {', '.join(FORMATS)})")
    if images_dir and not files.is_dir(images_dir):
        raise UserError(f"{images_dir}: images folder not found")
    return READERS[name](input_path, images_dir, classes_file)


def guess_format(path: str) -> str:
    """Guess the annotation format of ``path``: a .json file is COCO, a folder of .xml VOC,
    a folder of .txt YOLO. Raises UserError when it cannot tell."""
    if os.path.isfile(path) and path.lower().endswith(".json"):
        return "coco"
    if os.path.isdir(path):
        names = os.listdir(path)
        if any(n.lower().endswith(".xml") for n in names):
            return "voc"
        if any(n.lower().endswith(".txt") for n in names):
            return "yolo"
    raise UserError(
        f"cannot tell the annotation format of {path}: pass --format {'|'.join(FORMATS)}"
    )
