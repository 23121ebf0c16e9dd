"""COCO reader: an instances JSON (``images``, ``annotations``, ``categories``) + an image folder.

``bbox`` is ``[x, y, width, height]`` in pixels; it becomes ``SourceBox(x, y, x + w, y + h)`` with
``iscrowd`` and ``area`` kept. Image ids are COCO's ids as strings. Every declared category is a
class (also those without annotations), so labels follow the category ids in sorted order.

Image folder (``images_dir``): when not given, the first of these that holds the images wins:
the JSON's folder; for ``instances_<name>.json`` the folders ``../<name>`` and ``<name>`` beside
it (the COCO layout ``annotations/instances_train2017.json`` + ``train2017/``); ``../images``.
If none holds any image, the JSON's folder is used and validation reports the missing files.

Refused with ``UserError``: a missing or unparsable file, no ``images`` / ``categories`` list,
malformed image or category entries, duplicate image ids, file names or category ids, no images.
Quarantined at read time (kind ``box``): annotations whose image id does not exist, whose
category id is unknown, or whose bbox is not four numbers. Splits are left to the ingest step.
"""

from __future__ import annotations

import json
import math

from components import files
from components.data import reasons
from components.data.records import (
    QuarantineRecord,
    SourceBox,
    SourceClass,
    SourceDataset,
    SourceImage,
)
from components.errors import UserError

_PROBE_IMAGES = 20


def read_coco(json_path: str, images_dir: str | None = None) -> SourceDataset:
    """Read a COCO instances JSON; return a ``SourceDataset`` (see the module docstring).

    ``images_dir`` is the folder the ``file_name`` entries are relative to (default: guessed).
    Raises ``UserError`` naming the file and the reason for the refusals listed above.
    """
    json_path = files.absolute(json_path)
    data = _load_json(json_path)
    classes = _read_categories(json_path, data)
    images_meta = _read_images(json_path, data)
    if not images_meta:
        raise UserError(f"{json_path}: the dataset is empty (no images)")
    folder = images_dir or _guess_images_dir(json_path, [m["file_name"] for m in images_meta])

    class_ids = {c.source_id for c in classes}
    boxes_by_image: dict[str, list[SourceBox]] = {m["id"]: [] for m in images_meta}
    quarantine: list[QuarantineRecord] = []
    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        raise UserError(f"{json_path}: 'annotations' must be a list")
    for index, ann in enumerate(annotations):
        result = _read_annotation(ann, index, boxes_by_image, class_ids)
        if isinstance(result, SourceBox):
            boxes_by_image[_image_key(ann)].append(result)
        else:
            reason, image_id = result
            ann_id = ann.get("id") if isinstance(ann, dict) else None
            quarantine.append(
                QuarantineRecord(
                    kind=reasons.KIND_BOX,
                    source=json_path,
                    reason=reason,
                    image_id=image_id,
                    boxes=1,
                    detail=f"annotation #{index} (id {ann_id}): {_short(ann)}",
                )
            )

    images = [
        SourceImage(
            image_id=m["id"],
            file_name=m["file_name"],
            path=files.join(folder, m["file_name"]),
            boxes=tuple(boxes_by_image[m["id"]]),
            claimed_width=m["width"],
            claimed_height=m["height"],
            split=None,
            annotation_file=json_path,
        )
        for m in images_meta
    ]
    return SourceDataset(
        images=images,
        classes=classes,
        quarantine=quarantine,
        images_read=len(images),
        boxes_read=len(annotations),
    )


def _load_json(json_path: str) -> dict:
    try:
        raw = files.read_bytes(json_path)
    except (FileNotFoundError, IsADirectoryError) as err:
        raise UserError(f"{json_path}: annotation file not found") from err
    except OSError as err:
        raise UserError(f"{json_path}: cannot read annotation file ({err})") from err
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{json_path}: annotation file is not valid JSON ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise UserError(f"{json_path}: not a COCO instances file (no 'images' list)")
    return data


def _read_categories(json_path: str, data: dict) -> list[SourceClass]:
    categories = data.get("categories")
    if not isinstance(categories, list):
        raise UserError(f"{json_path}: not a COCO instances file (no 'categories' list)")
    classes: list[SourceClass] = []
    seen: set[int] = set()
    for index, cat in enumerate(categories):
        try:
            cat_id, name = _as_int(cat["id"]), str(cat["name"]).strip()
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(
                f"{json_path}: category #{index} needs an integer 'id' and a 'name'"
            ) from err
        if cat_id in seen:
            raise UserError(f"{json_path}: duplicate category id {cat_id}")
        seen.add(cat_id)
        classes.append(SourceClass(cat_id, name))
    return sorted(classes, key=lambda c: c.source_id)


def _read_images(json_path: str, data: dict) -> list[dict]:
    metas: list[dict] = []
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    for index, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or not img.get("file_name"):
            raise UserError(f"{json_path}: image #{index} needs an 'id' and a 'file_name'")
        image_id = str(img["id"])
        file_name = str(img["file_name"])
        if image_id in seen_ids:
            raise UserError(f"{json_path}: duplicate image id {image_id}")
        if file_name in seen_names:
            raise UserError(f"{json_path}: duplicate image file_name {file_name!r}")
        seen_ids.add(image_id)
        seen_names.add(file_name)
        metas.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": _optional_int(img.get("width")),
                "height": _optional_int(img.get("height")),
            }
        )
    return metas


def _image_key(ann: dict) -> str:
    return str(ann.get("image_id"))


def _read_annotation(ann, index: int, boxes_by_image: dict, class_ids: set[int]):
    """Return a ``SourceBox`` or ``(reason, image_id)`` for a quarantined annotation."""
    if not isinstance(ann, dict):
        return reasons.INVALID_BOX, ""
    image_id = _image_key(ann)
    if image_id not in boxes_by_image:
        return reasons.MISSING_IMAGE_ID, image_id
    try:
        category = _as_int(ann.get("category_id"))
    except (TypeError, ValueError):
        category = None
    if category is None or category not in class_ids:
        return reasons.UNKNOWN_CATEGORY, image_id
    bbox = ann.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return reasons.INVALID_BOX, image_id
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return reasons.INVALID_BOX, image_id
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return reasons.INVALID_BOX, image_id
    area = ann.get("area")
    try:
        area = float(area) if area is not None else None
    except (TypeError, ValueError):
        area = None
    return SourceBox(
        source_class_id=category,
        xmin=x,
        ymin=y,
        xmax=x + w,
        ymax=y + h,
        is_crowd=bool(ann.get("iscrowd", 0)),
        area=area,
        index=index,
    )


def _as_int(value) -> int:
    if isinstance(value, bool):
        raise TypeError("boolean is not an id")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not an integer")
        return int(value)
    return int(value)


def _optional_int(value) -> int | None:
    try:
        return None if value is None else _as_int(value)
    except (TypeError, ValueError):
        return None


def _short(ann) -> str:
    if not isinstance(ann, dict):
        return repr(ann)[:200]
    keys = ("image_id", "category_id", "bbox", "iscrowd")
    return json.dumps({k: ann.get(k) for k in keys if k in ann})[:200]


def _guess_images_dir(json_path: str, file_names: list[str]) -> str:
    """Return the candidate folder holding the most of the first images (JSON folder if none)."""
    json_dir = files.dirname(json_path)
    candidates = [json_dir]
    stem = files.basename(json_path).rsplit(".", 1)[0]
    if stem.startswith("instances_") and len(stem) > len("instances_"):
        name = stem[len("instances_") :]
        candidates += [
            files.join(files.dirname(json_dir), name),
            files.join(json_dir, name),
        ]
    candidates.append(files.join(files.dirname(json_dir), "images"))
    probe = file_names[:_PROBE_IMAGES]
    best, best_hits = json_dir, 0
    for folder in candidates:
        hits = sum(files.is_file(files.join(folder, name)) for name in probe)
        if hits > best_hits:
            best, best_hits = folder, hits
        if hits == len(probe):
            break
    return best
