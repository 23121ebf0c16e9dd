"""Dataset reader dispatch: ``read_dataset(fmt, input_path, ...)`` for COCO, VOC and YOLO.

Readers parse annotation files only; image bytes are decoded later, per image, by
``components.data.validate.validate_image``. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from components.data import source_fs
from components.data.coco import read_coco
from components.data.records import SourceDataset
from components.data.voc import read_voc
from components.data.yolo import read_yolo
from components.errors import UserError

FORMATS = ("coco", "voc", "yolo")


def read_dataset(
    fmt: str,
    input_path: str,
    images_dir: str | None = None,
    classes_file: str | None = None,
) -> SourceDataset:
    """Read the dataset at ``input_path`` in format ``fmt``; return its ``SourceDataset``.

    ``fmt`` is ``coco`` (``input_path`` = instances JSON), ``voc`` (folder of XML files) or
    ``yolo`` (folder of txt label files). ``images_dir`` overrides where images are looked up;
    ``classes_file`` gives class names (VOC: restricts and orders the classes; YOLO: required
    unless the label folder has ``classes.txt``; COCO: not accepted, categories come from the
    JSON). Raises ``UserError`` for an unknown format, a missing ``images_dir`` and for the
    refusals of each reader.
    """
    name = (fmt or "").strip().lower()
    if name not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (choose one of: {', '.join(FORMATS)})")
    if images_dir and not source_fs.is_dir(images_dir):
        raise UserError(f"{images_dir}: images folder not found")
    if name == "coco":
        if classes_file:
            raise UserError("--classes is not used with --format coco (the JSON has categories)")
        return read_coco(input_path, images_dir)
    if name == "voc":
        return read_voc(input_path, images_dir, classes_file)
    return read_yolo(input_path, images_dir, classes_file)
