"""YOLO reader: a folder of ``.txt`` label files (``class cx cy w h``, normalised) + images.

Class names come from ``--classes``: a text file with one name per line, or an Ultralytics data
YAML (``names`` as a list or ``{index: name}``). Without ``--classes``, a ``classes.txt`` in the
label folder is used (the layout LabelImg writes); ``classes.txt`` is never read as labels. Class
``i`` of the file has source id ``i``.

Images: ``images_dir``, or else the first of the label folder, the Ultralytics sibling (the path
with its last ``labels`` component replaced by ``images``) and ``../images`` that holds images
named like the label files. Images in that folder without a label file are negatives (as in
Ultralytics). Boxes become pixels with the image size read from the image header (Pillow reads
only the header); when the image is missing or unreadable the image is kept with its boxes
unscaled and validation quarantines it (counting its boxes). Segment lines (``class x1 y1 x2 y2
...``, at least three points) become the bounding box of the polygon.

Splits: when ``--classes`` is a data YAML whose ``train`` and ``val`` folders differ, images under
them are ``train`` and ``val``, and under its ``test`` folder (when given) ``test``; the ingest
step hashes the splits the source leaves out.

Refused with ``UserError``: a missing folder, no class names, no label files and no images, two
images with the same stem. Quarantined at read time (kind ``box``): lines that do not parse and
class indices out of range.
"""

from __future__ import annotations

import math
import os

from PIL import Image

from components import files
from components.data import reasons
from components.data.labels import read_class_names, read_data_yaml
from components.data.records import (
    QuarantineRecord,
    SourceBox,
    SourceClass,
    SourceDataset,
    SourceImage,
)
from components.data.validate import DECODABLE_FORMATS
from components.data.voc import IMAGE_EXTENSIONS
from components.errors import UserError

CLASSES_TXT = "classes.txt"


def read_yolo(
    input_path: str, images_dir: str | None = None, classes_file: str | None = None
) -> SourceDataset:
    """Read a folder of YOLO label files; return a ``SourceDataset`` (see the module docstring).

    Raises ``UserError`` naming the file and the reason for the refusals listed above.
    """
    input_path = files.absolute(input_path)
    if not files.is_dir(input_path):
        raise UserError(f"{input_path}: label folder not found")
    names = _class_names(input_path, classes_file)
    classes = [SourceClass(i, n) for i, n in enumerate(names)]
    label_names = [
        n for n in files.list_files(input_path) if n.endswith(".txt") and n != CLASSES_TXT
    ]
    label_stems = [n[: -len(".txt")] for n in label_names]

    folder, stem_index = _image_folder(input_path, images_dir, set(label_stems))
    for same_stem in stem_index.values():
        if len(same_stem) > 1:
            raise UserError(f"{folder}: duplicate file stems: {', '.join(same_stem)}")
    negatives = sorted(set(stem_index) - set(label_stems))
    if not label_names and not negatives:
        raise UserError(f"{input_path}: the dataset is empty (no label files and no images)")
    splits = _yaml_splits(classes_file)

    images: list[SourceImage] = []
    quarantine: list[QuarantineRecord] = []
    boxes_read = 0
    for stem in sorted(label_stems + negatives):
        label_path = files.join(input_path, f"{stem}.txt")
        file_name = stem_index[stem][0] if stem in stem_index else f"{stem}.jpg"
        image_path = files.join(folder, file_name)
        size = _header_size(image_path) if stem in stem_index else None
        boxes: list[SourceBox] = []
        if stem in label_stems:
            text = files.read_bytes(label_path).decode("utf-8", errors="replace")
            lines = [(i, line) for i, line in enumerate(text.splitlines()) if line.strip()]
            for index, line in lines:
                boxes_read += 1
                parsed = _parse_line(line, len(names), size, index)
                if isinstance(parsed, SourceBox):
                    boxes.append(parsed)
                    continue
                quarantine.append(
                    QuarantineRecord(
                        kind=reasons.KIND_BOX,
                        source=label_path,
                        reason=parsed,
                        image_id=stem,
                        boxes=1,
                        detail=f"line {index + 1}: {line.strip()[:200]!r}",
                    )
                )
        images.append(
            SourceImage(
                image_id=stem,
                file_name=file_name,
                path=image_path,
                boxes=tuple(boxes),
                split=_split_of(image_path, splits),
                annotation_file=label_path if stem in label_stems else "",
            )
        )
    return SourceDataset(images, classes, quarantine, len(images), boxes_read)


def _class_names(input_path: str, classes_file: str | None) -> list[str]:
    if classes_file:
        return read_class_names(classes_file)
    default = files.join(input_path, CLASSES_TXT)
    if files.is_file(default):
        return read_class_names(default)
    raise UserError(
        f"{input_path}: YOLO labels need class names: pass --classes (a names file or a data YAML)"
    )


def _stem_index(folder: str) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for name in files.list_files(folder):
        if name.lower().endswith(IMAGE_EXTENSIONS):
            index.setdefault(name.rsplit(".", 1)[0], []).append(name)
    return index


def _image_folder(
    label_dir: str, images_dir: str | None, label_stems: set[str]
) -> tuple[str, dict[str, list[str]]]:
    """Return the image folder and its ``{stem: [file names]}`` index."""
    if images_dir:
        return images_dir, _stem_index(images_dir)
    candidates = [label_dir]
    parts = label_dir.rstrip("/").split("/")
    if "labels" in parts:
        last = len(parts) - 1 - parts[::-1].index("labels")
        candidates.append("/".join(parts[:last] + ["images"] + parts[last + 1 :]))
    candidates.append(files.join(files.dirname(label_dir), "images"))
    best: tuple[str, dict[str, list[str]]] = (label_dir, _stem_index(label_dir))
    best_hits = len(label_stems & set(best[1]))
    for folder in candidates[1:]:
        index = _stem_index(folder)
        hits = len(label_stems & set(index))
        if hits > best_hits:
            best, best_hits = (folder, index), hits
    return best


def _header_size(path: str) -> tuple[int, int] | None:
    try:
        with (
            files.open_binary(path) as handle,
            Image.open(handle, formats=DECODABLE_FORMATS) as pil,
        ):
            return pil.size
    except Exception:  # noqa: BLE001 - any failure is reported by validation
        return None


def _parse_line(line: str, num_classes: int, size: tuple[int, int] | None, index: int):
    """Return a ``SourceBox`` in pixels (unscaled when size is None) or a quarantine reason."""
    tokens = line.split()
    try:
        cls = int(tokens[0])
        values = [float(t) for t in tokens[1:]]
    except (ValueError, IndexError):
        return reasons.UNPARSABLE_LABEL_LINE
    if not all(math.isfinite(v) for v in values):
        return reasons.UNPARSABLE_LABEL_LINE
    if len(values) == 4:
        cx, cy, w, h = values
        xmin, ymin, xmax, ymax = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    elif len(values) >= 6 and len(values) % 2 == 0:
        xs, ys = values[0::2], values[1::2]
        xmin, ymin, xmax, ymax = min(xs), min(ys), max(xs), max(ys)
    else:
        return reasons.UNPARSABLE_LABEL_LINE
    if not 0 <= cls < num_classes:
        return reasons.CLASS_INDEX_OUT_OF_RANGE
    width, height = size or (1, 1)
    return SourceBox(cls, xmin * width, ymin * height, xmax * width, ymax * height, index=index)


def _yaml_splits(classes_file: str | None) -> dict[str, str]:
    """Return ``{image folder prefix: split}`` from a data YAML's train/val entries (or {})."""
    if not classes_file or not classes_file.lower().endswith((".yaml", ".yml")):
        return {}
    data = read_data_yaml(classes_file)
    root = data.get("path") or ""
    base = files.dirname(classes_file)
    if root:
        root = str(root)
        base = root if files.is_remote(root) or os.path.isabs(root) else files.join(base, root)

    def folders(key: str) -> set[str]:
        value = data.get(key)
        entries = value if isinstance(value, list) else [value] if value else []
        result = set()
        for entry in entries:
            entry = str(entry)
            path = (
                entry if files.is_remote(entry) or os.path.isabs(entry) else files.join(base, entry)
            )
            result.add(files.normalize(path))
        return result

    train, val, test = folders("train"), folders("val"), folders("test")
    if not train or not val or train == val:
        return {}
    test -= train | val  # a test list equal to another split's adds nothing
    return {**{f: "train" for f in train}, **{f: "val" for f in val}, **{f: "test" for f in test}}


def _split_of(image_path: str, splits: dict[str, str]) -> str | None:
    if not splits:
        return None
    path = files.normalize(image_path)
    for prefix, split in sorted(splits.items(), key=lambda kv: -len(kv[0])):
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return split
    return None
