"""Pascal VOC reader: a folder of XML annotation files, images beside them or in another folder.

``input_path`` is the XML folder, or a VOC devkit root holding ``Annotations/``. Image ids are
the XML file stems. The image of an XML is, in order: ``<filename>`` when its stem equals the XML
stem; a file named like the XML stem with an image extension; ``<filename>`` as written. (Some
datasets carry a wrong ``<filename>``; the stem rule finds their images.) Image folder
(``images_dir``): when not given, the first of the XML folder, ``../images`` and
``../JPEGImages`` that holds the images.

Coordinates are kept exactly as the XML states them (no 1-based shift), so boxes round-trip to
the XML values. ``difficult`` objects are kept (``is_crowd`` False). Classes: the sorted unique
object names with ids 1..K, or, with ``--classes``, the given names in file order (objects with
other names are quarantined as "unknown class name"). Splits: ``ImageSets/Main/train.txt`` and
``val.txt`` beside the annotation folder, when present, give ``train`` / ``val`` (and
``test.txt``, when present, ``test``); the ingest step hashes the splits the source leaves out.

Refused with ``UserError``: a missing folder, no XML files, an unparsable XML file, two XML files
for the same image. Quarantined at read time (kind ``box``): objects without a name or with
missing / unparsable coordinates, and unknown class names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from components import files
from components.data import reasons
from components.data.labels import read_class_names
from components.data.records import (
    QuarantineRecord,
    SourceBox,
    SourceClass,
    SourceDataset,
    SourceImage,
)
from components.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_COORDS = ("xmin", "ymin", "xmax", "ymax")


def read_voc(
    input_path: str, images_dir: str | None = None, classes_file: str | None = None
) -> SourceDataset:
    """Read a folder of VOC XML files; return a ``SourceDataset`` (see the module docstring).

    Raises ``UserError`` naming the file and the reason for the refusals listed above.
    """
    input_path = files.absolute(input_path)
    xml_dir = _annotation_dir(input_path)
    xml_names = [n for n in files.list_files(xml_dir) if n.lower().endswith(".xml")]
    if not xml_names:
        raise UserError(f"{input_path}: the dataset is empty (no .xml annotation files)")
    parsed = [_parse_xml(files.join(xml_dir, n)) for n in xml_names]

    given = read_class_names(classes_file) if classes_file else None
    names = given or sorted({obj["name"] for _, _, objs in parsed for obj in objs if obj["name"]})
    class_ids = {name: i + 1 for i, name in enumerate(names)}
    classes = [SourceClass(i, n) for n, i in class_ids.items()]

    folders = [images_dir] if images_dir else _candidate_image_dirs(xml_dir)
    listings = {folder: set(files.list_files(folder)) for folder in folders}
    if not images_dir:
        folders = _order_by_hits(folders, listings, xml_names)
    stems = {folder: _index_stems(listings[folder]) for folder in folders}
    splits = _read_splits(xml_dir)

    images: list[SourceImage] = []
    quarantine: list[QuarantineRecord] = []
    owners: dict[str, str] = {}
    boxes_read = 0
    for xml_name, (xml_path, root, objects) in zip(xml_names, parsed, strict=True):
        stem = xml_name[: -len(".xml")]
        file_name, path = _find_image(stem, root.findtext("filename"), folders, listings, stems)
        if path in owners:
            raise UserError(
                f"{xml_path}: duplicate image: {owners[path]} refers to the same image {path}"
            )
        owners[path] = xml_path
        boxes: list[SourceBox] = []
        for index, obj in enumerate(objects):
            boxes_read += 1
            reason = _object_problem(obj, class_ids)
            if reason:
                quarantine.append(
                    QuarantineRecord(
                        kind=reasons.KIND_BOX,
                        source=xml_path,
                        reason=reason,
                        image_id=stem,
                        boxes=1,
                        detail=f"object #{index} name {obj['name']!r} bndbox {obj['raw']}",
                    )
                )
                continue
            xmin, ymin, xmax, ymax = obj["coords"]
            boxes.append(
                SourceBox(class_ids[obj["name"]], xmin, ymin, xmax, ymax, False, None, index)
            )
        images.append(
            SourceImage(
                image_id=stem,
                file_name=file_name,
                path=path,
                boxes=tuple(boxes),
                claimed_width=_size(root, "width"),
                claimed_height=_size(root, "height"),
                split=splits.get(stem),
                annotation_file=xml_path,
            )
        )
    return SourceDataset(images, classes, quarantine, len(images), boxes_read)


def _annotation_dir(input_path: str) -> str:
    if not files.is_dir(input_path):
        raise UserError(f"{input_path}: annotation folder not found")
    devkit = files.join(input_path, "Annotations")
    if not any(n.lower().endswith(".xml") for n in files.list_files(input_path)) and (
        files.is_dir(devkit)
    ):
        return devkit
    return input_path


def _parse_xml(xml_path: str) -> tuple[str, ET.Element, list[dict]]:
    try:
        root = ET.fromstring(files.read_bytes(xml_path))
    except OSError as err:
        raise UserError(f"{xml_path}: cannot read annotation file ({err})") from err
    except ET.ParseError as err:
        raise UserError(f"{xml_path}: annotation file is not valid XML ({err})") from err
    if root.tag != "annotation":
        raise UserError(f"{xml_path}: not a VOC annotation (root element <{root.tag}>)")
    objects = []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        bndbox = obj.find("bndbox")
        raw = {k: (bndbox.findtext(k) if bndbox is not None else None) for k in _COORDS}
        try:
            coords = tuple(float(str(raw[k]).strip()) for k in _COORDS)
        except ValueError:
            coords = None
        objects.append({"name": name, "coords": coords, "raw": raw})
    return xml_path, root, objects


def _object_problem(obj: dict, class_ids: dict[str, int]) -> str:
    if obj["coords"] is None:
        return reasons.INVALID_BOX
    if obj["name"] not in class_ids:
        return reasons.UNKNOWN_CLASS_NAME
    return ""


def _size(root: ET.Element, key: str) -> int | None:
    text = root.findtext(f"size/{key}")
    try:
        value = int(float(text)) if text is not None else None
    except ValueError:
        return None
    return value if value else None


def _candidate_image_dirs(xml_dir: str) -> list[str]:
    parent = files.dirname(xml_dir)
    return [xml_dir, files.join(parent, "images"), files.join(parent, "JPEGImages")]


def _order_by_hits(folders: list[str], listings: dict, xml_names: list[str]) -> list[str]:
    """Put the folder that holds the most images named like the XML stems first."""
    stems = {n[: -len(".xml")] for n in xml_names}

    counts = {f: len(stems & set(_index_stems(listings[f]))) for f in folders}
    return sorted(folders, key=lambda f: -counts[f])


def _index_stems(listing: set[str]) -> dict[str, list[str]]:
    """Map each image stem in a folder listing to its file names (sorted)."""
    index: dict[str, list[str]] = {}
    for name in sorted(listing):
        if name.lower().endswith(IMAGE_EXTENSIONS):
            index.setdefault(name.rsplit(".", 1)[0], []).append(name)
    return index


def _find_image(
    stem: str, declared: str | None, folders: list[str], listings: dict, stems: dict
) -> tuple[str, str]:
    """Return ``(file_name, path)`` of the image of XML ``stem`` (a missing path if none)."""
    declared = (declared or "").strip().replace("\\", "/").rsplit("/", 1)[-1]
    if declared and declared.rsplit(".", 1)[0] == stem:
        for folder in folders:
            if declared in listings[folder]:
                return declared, files.join(folder, declared)
    for folder in folders:
        if stem in stems[folder]:
            name = stems[folder][stem][0]
            return name, files.join(folder, name)
    if declared:
        for folder in folders:
            if declared in listings[folder]:
                return declared, files.join(folder, declared)
    fallback = declared or f"{stem}.jpg"
    return fallback, files.join(folders[0], fallback)


def _read_splits(xml_dir: str) -> dict[str, str]:
    """Return ``{image stem: "train" | "val" | "test"}`` from ImageSets/Main (empty unless
    ``train.txt`` and ``val.txt`` exist; ``test.txt`` is read when present)."""
    main = files.join(files.dirname(xml_dir), "ImageSets", "Main")
    lists = (("train.txt", "train"), ("val.txt", "val"))
    if not all(files.is_file(files.join(main, name)) for name, _ in lists):
        return {}
    if files.is_file(files.join(main, "test.txt")):
        lists += (("test.txt", "test"),)
    splits: dict[str, str] = {}
    for file_name, split in lists:
        text = files.read_bytes(files.join(main, file_name)).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.split():
                splits.setdefault(line.split()[0], split)
    return splits
