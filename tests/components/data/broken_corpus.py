"""Builders of small datasets with broken inputs, for the reader/validation and ingest tests.

Pytest-free: import it by file path (``importlib.util.spec_from_file_location``). Every builder
writes into a given folder (tests pass ``tmp_path``) and returns a ``Corpus``: where the input
is, and what ingesting it must give (quarantine records as ``(kind, reason, image_id, boxes)``,
counts read/accepted, the real format and notes of accepted images). Images are generated with
Pillow; nothing binary is committed.

- ``make_coco_case(folder, case)``: one bad-input case (``COCO_CASES``) plus one good image.
- ``make_coco_corpus(folder)``: all COCO cases in one dataset.
- ``make_voc_corpus(folder)`` / ``make_yolo_corpus(folder)``: the format's own broken cases.
- ``make_refusal_case(folder, case)``: inputs that must be refused with ``UserError``
  (``REFUSAL_CASES``); returns ``(fmt, input_path, images_dir, classes_file, message part)``.
- ``coco_to_yolo(json_path, images_dir, out_dir)``: the same dataset as YOLO labels.
- ``validate_all(fmt, input_path, images_dir, classes_file)``: read + validate every image in a
  plain loop; returns an ``Outcome`` (quarantine tuples, counts, decoded examples).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
import random

from PIL import Image, ImageDraw

# Reason strings (kept equal to components/data/reasons.py; tests compare them).
MISSING_IMAGE = "missing image file"
NOT_AN_IMAGE = "unreadable image: not an image file"
TRUNCATED = "unreadable image: truncated"
DEGENERATE_BOX = "degenerate box"
BOX_OUTSIDE = "box outside image"
INVALID_BOX = "invalid box coordinates"
UNKNOWN_CATEGORY = "unknown category id"
UNKNOWN_CLASS_NAME = "unknown class name"
CLASS_OUT_OF_RANGE = "class index out of range"
UNPARSABLE_LINE = "unparsable label line"
MISSING_IMAGE_ID = "annotation references missing image"

WIDTH, HEIGHT = 64, 48
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]


@dataclasses.dataclass
class Corpus:
    """A generated dataset and the outcome ingesting it must have."""

    fmt: str
    input_path: str
    images_dir: str | None
    classes_file: str | None
    expected: list[tuple[str, str, str, int]]
    images_read: int
    images_accepted: int
    boxes_read: int
    boxes_accepted: int
    formats: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)


def image_bytes(kind: str, width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> bytes:
    """Return the bytes of a generated image of ``kind``.

    Kinds: ``jpeg``, ``png``, ``bmp``, ``gray_jpeg``, ``cmyk_jpeg``, ``truncated_jpeg`` (the first
    half of a JPEG), ``not_an_image`` (text).
    """
    if kind == "not_an_image":
        return b"this is not an image, just some text\n" * 4
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (rng.randrange(256), 90, 160))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(1, width // 2), y0 + rng.randrange(1, height // 2)
        draw.rectangle([x0, y0, x1, y1], fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    if kind in ("jpeg", "truncated_jpeg"):
        img.save(buffer, format="JPEG", quality=90)
    elif kind == "gray_jpeg":
        img.convert("L").save(buffer, format="JPEG", quality=90)
    elif kind == "cmyk_jpeg":
        img.convert("CMYK").save(buffer, format="JPEG", quality=90)
    elif kind == "png":
        img.save(buffer, format="PNG")
    elif kind == "bmp":
        img.save(buffer, format="BMP")
    else:
        raise ValueError(f"unknown image kind {kind!r}")
    data = buffer.getvalue()
    return data[: len(data) // 2] if kind == "truncated_jpeg" else data


def _write_image(folder: pathlib.Path, name: str, kind: str, seed: int) -> None:
    if kind != "missing":
        (folder / name).write_bytes(image_bytes(kind, seed=seed))


# One COCO case: images (id, file name, kind, claimed size or None), annotations (image id,
# category id, [x, y, w, h]), expected quarantine records, and accepted formats / notes.
@dataclasses.dataclass
class _Case:
    images: list[tuple[int, str, str, tuple[int, int] | None]]
    annotations: list[tuple[int, int, list[float]]]
    expected: list[tuple[str, str, str, int]]
    formats: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)


_GOOD = _Case(
    images=[(1, "good.jpg", "jpeg", None)],
    annotations=[(1, 1, [4, 4, 20, 16]), (1, 2, [30, 10, 20, 30])],
    expected=[],
    formats={"1": "jpeg"},
)

_COCO_CASES: dict[str, _Case] = {
    "truncated_jpeg": _Case(
        [(2, "truncated.jpg", "truncated_jpeg", None)],
        [(2, 1, [5, 5, 10, 10])],
        [("image", TRUNCATED, "2", 1)],
    ),
    "not_an_image": _Case(
        [(3, "text.jpg", "not_an_image", None)],
        [(3, 1, [5, 5, 10, 10])],
        [("image", NOT_AN_IMAGE, "3", 1)],
    ),
    "missing_image": _Case(
        [(4, "missing.jpg", "missing", None)],
        [(4, 1, [5, 5, 10, 10]), (4, 2, [1, 1, 5, 5])],
        [("image", MISSING_IMAGE, "4", 2)],
    ),
    "zero_width_box": _Case(
        [(5, "zero_width.jpg", "jpeg", None)],
        [(5, 1, [10, 10, 0, 10]), (5, 1, [2, 2, 10, 10])],
        [("box", DEGENERATE_BOX, "5", 1)],
        formats={"5": "jpeg"},
    ),
    "negative_height_box": _Case(
        [(6, "negative_height.jpg", "jpeg", None)],
        [(6, 2, [10, 10, 10, -5])],
        [("box", DEGENERATE_BOX, "6", 1)],
        formats={"6": "jpeg"},
    ),
    "box_far_outside": _Case(
        [(7, "far_outside.jpg", "jpeg", None)],
        [(7, 1, [100, 100, 20, 20]), (7, 1, [-30, 5, 20, 10])],
        [("box", BOX_OUTSIDE, "7", 1), ("box", BOX_OUTSIDE, "7", 1)],
        formats={"7": "jpeg"},
    ),
    "box_half_px_outside": _Case(
        [(8, "half_px.jpg", "jpeg", None)],
        [(8, 1, [-0.5, 2, 20, 20]), (8, 2, [50, 30, 14.5, 18.5])],
        [],
        formats={"8": "jpeg"},
        notes={"8": "2 box(es) clipped"},
    ),
    "unknown_category": _Case(
        [(9, "unknown_category.jpg", "jpeg", None)],
        [(9, 99, [5, 5, 10, 10])],
        [("box", UNKNOWN_CATEGORY, "9", 1)],
        formats={"9": "jpeg"},
    ),
    "missing_image_id": _Case(
        [],
        [(999, 1, [5, 5, 10, 10])],
        [("box", MISSING_IMAGE_ID, "999", 1)],
    ),
    "png_named_jpg": _Case(
        [(10, "really_png.jpg", "png", None)],
        [(10, 1, [5, 5, 10, 10])],
        [],
        formats={"10": "png"},
        notes={"10": "PNG content in a .jpg file (kept as png)"},
    ),
    "size_mismatch": _Case(
        [(11, "size_mismatch.jpg", "jpeg", (100, 80))],
        [(11, 1, [5, 5, 10, 10])],
        [],
        formats={"11": "jpeg"},
        notes={"11": "annotation claims 100x80, decoded 64x48"},
    ),
    "negative_image": _Case([(12, "negative.jpg", "jpeg", None)], [], [], formats={"12": "jpeg"}),
    "bmp_image": _Case(
        [(13, "bitmap.bmp", "bmp", None)],
        [(13, 1, [5, 5, 10, 10])],
        [],
        formats={"13": "png"},
        notes={"13": "re-encoded as RGB PNG"},
    ),
    "cmyk_jpeg": _Case(
        [(14, "cmyk.jpg", "cmyk_jpeg", None)],
        [(14, 2, [5, 5, 10, 10])],
        [],
        formats={"14": "png"},
        notes={"14": "re-encoded as RGB PNG"},
    ),
    "grayscale_jpeg": _Case(
        [(15, "gray.jpg", "gray_jpeg", None)],
        [(15, 2, [5, 5, 10, 10])],
        [],
        formats={"15": "jpeg"},
    ),
}
COCO_CASES = tuple(_COCO_CASES)


def _write_coco(folder: pathlib.Path, cases: list[_Case]) -> Corpus:
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    expected, formats, notes = [], {}, {}
    for case in cases:
        for image_id, name, kind, claimed in case.images:
            _write_image(images_dir, name, kind, seed=image_id)
            width, height = claimed or (WIDTH, HEIGHT)
            images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for image_id, category, bbox in case.annotations:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": bbox,
                    "area": abs(bbox[2] * bbox[3]),
                    "iscrowd": 0,
                }
            )
        expected += case.expected
        formats.update(case.formats)
        notes.update(case.notes)
    json_path = folder / "annotations" / "instances.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    json_path.write_text(json.dumps(payload, indent=1))
    image_quarantined = {e[2] for e in expected if e[0] == "image"}
    boxes_quarantined = sum(e[3] for e in expected)
    return Corpus(
        fmt="coco",
        input_path=str(json_path),
        images_dir=str(images_dir),
        classes_file=None,
        expected=sorted(expected),
        images_read=len(images),
        images_accepted=len(images) - len(image_quarantined),
        boxes_read=len(annotations),
        boxes_accepted=len(annotations) - boxes_quarantined,
        formats=formats,
        notes=notes,
    )


def make_coco_case(folder: pathlib.Path, case: str) -> Corpus:
    """Write a COCO dataset with the good image plus bad-input ``case``; return its ``Corpus``."""
    return _write_coco(pathlib.Path(folder), [_GOOD, _COCO_CASES[case]])


def make_coco_corpus(folder: pathlib.Path) -> Corpus:
    """Write a COCO dataset with every case of ``COCO_CASES``; return its ``Corpus``."""
    return _write_coco(pathlib.Path(folder), [_GOOD, *_COCO_CASES.values()])


def _voc_xml(filename: str, size: tuple[int, int], objects: list[tuple[str, list]]) -> str:
    parts = [
        "<annotation>",
        "  <folder>images</folder>",
        f"  <filename>{filename}</filename>",
        f"  <size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>",
    ]
    for name, coords in objects:
        box = "".join(
            f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), coords, strict=True)
        )
        parts.append(
            f"  <object><name>{name}</name><difficult>0</difficult><bndbox>{box}</bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def make_voc_corpus(folder: pathlib.Path, with_classes: bool = True) -> Corpus:
    """Write a VOC dataset (XML in ``annotations/``, images in ``images/``); return its ``Corpus``.

    Cases: a good image; a wrong ``<filename>`` (found by the XML stem); unparsable coordinates;
    a class not in ``--classes`` (only when ``with_classes``); a missing image; a PNG named .jpg;
    a zero-height box; an image without objects.
    """
    folder = pathlib.Path(folder)
    ann_dir, images_dir = folder / "annotations", folder / "images"
    ann_dir.mkdir(parents=True, exist_ok=True)
    images_dir.mkdir(parents=True, exist_ok=True)
    size = (WIDTH, HEIGHT)
    entries = [
        ("good", "good.jpg", "jpeg", [("cat", [4, 4, 24, 20]), ("dog", [30, 10, 50, 40])]),
        ("wrong_filename", "something_else.jpg", "jpeg", [("cat", [1, 1, 10, 10])]),
        (
            "bad_coords",
            "bad_coords.jpg",
            "jpeg",
            [("cat", ["x", 1, 10, 10]), ("dog", [2, 2, 9, 9])],
        ),
        ("other_class", "other_class.jpg", "jpeg", [("bird", [1, 1, 10, 10])]),
        ("missing", "missing.jpg", "missing", [("cat", [1, 1, 10, 10])]),
        ("png_named_jpg", "png_named_jpg.jpg", "png", [("dog", [1, 1, 10, 10])]),
        ("zero_height", "zero_height.jpg", "jpeg", [("cat", [1, 5, 10, 5])]),
        ("empty", "empty.jpg", "jpeg", []),
    ]
    for seed, (stem, filename, kind, objects) in enumerate(entries):
        image_name = filename if stem != "wrong_filename" else f"{stem}.jpg"
        _write_image(images_dir, image_name, kind, seed=seed)
        (ann_dir / f"{stem}.xml").write_text(_voc_xml(filename, size, objects))
    classes_file = None
    expected = [
        ("box", INVALID_BOX, "bad_coords", 1),
        ("image", MISSING_IMAGE, "missing", 1),
        ("box", DEGENERATE_BOX, "zero_height", 1),
    ]
    boxes_read = sum(len(e[3]) for e in entries)
    if with_classes:
        classes_file = str(folder / "classes.txt")
        pathlib.Path(classes_file).write_text("cat\ndog\n")
        expected.append(("box", UNKNOWN_CLASS_NAME, "other_class", 1))
    return Corpus(
        fmt="voc",
        input_path=str(ann_dir),
        images_dir=None,
        classes_file=classes_file,
        expected=sorted(expected),
        images_read=len(entries),
        images_accepted=len(entries) - 1,
        boxes_read=boxes_read,
        boxes_accepted=boxes_read - sum(e[3] for e in expected),
        formats={"good": "jpeg", "png_named_jpg": "png", "wrong_filename": "jpeg"},
    )


def make_yolo_corpus(folder: pathlib.Path) -> Corpus:
    """Write a YOLO dataset (Ultralytics layout ``labels/`` + ``images/``, ``data.yaml``).

    Cases: a good image; an unparsable line; a class index out of range; a missing image; a
    truncated image; an image without a label file (a negative); a blank line (ignored).
    """
    folder = pathlib.Path(folder)
    labels_dir, images_dir = folder / "labels" / "train", folder / "images" / "train"
    labels_dir.mkdir(parents=True, exist_ok=True)
    images_dir.mkdir(parents=True, exist_ok=True)
    entries = [
        ("good", "jpeg", "0 0.25 0.25 0.2 0.2\n1 0.6 0.5 0.3 0.4\n\n"),
        ("bad_line", "jpeg", "0 0.5 0.5 0.2\n0 0.5 0.5 0.2 0.2\n"),
        ("bad_class", "jpeg", "5 0.5 0.5 0.2 0.2\n-1 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.2 0.2\n"),
        ("missing", "missing", "0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n"),
        ("truncated", "truncated_jpeg", "0 0.5 0.5 0.2 0.2\n"),
        ("unlabelled", "png", None),
    ]
    for seed, (stem, kind, text) in enumerate(entries):
        _write_image(images_dir, f"{stem}.jpg", kind, seed=seed)
        if text is not None:
            (labels_dir / f"{stem}.txt").write_text(text)
    yaml_path = folder / "data.yaml"
    yaml_path.write_text(
        "path: .\ntrain: images/train\nval: images/train\nnames:\n  0: cat\n  1: dog\n"
    )
    expected = [
        ("box", UNPARSABLE_LINE, "bad_line", 1),
        ("box", CLASS_OUT_OF_RANGE, "bad_class", 1),
        ("box", CLASS_OUT_OF_RANGE, "bad_class", 1),
        ("image", MISSING_IMAGE, "missing", 2),
        ("image", TRUNCATED, "truncated", 1),
    ]
    boxes_read = 2 + 2 + 3 + 2 + 1
    return Corpus(
        fmt="yolo",
        input_path=str(labels_dir),
        images_dir=None,
        classes_file=str(yaml_path),
        expected=sorted(expected),
        images_read=len(entries),
        images_accepted=len(entries) - 2,
        boxes_read=boxes_read,
        boxes_accepted=boxes_read - sum(e[3] for e in expected),
        formats={"good": "jpeg", "unlabelled": "png"},
    )


REFUSAL_CASES = (
    "coco_missing_file",
    "coco_unparsable",
    "coco_not_instances",
    "coco_empty",
    "coco_duplicate_ids",
    "voc_missing_folder",
    "voc_empty",
    "voc_unparsable",
    "yolo_no_classes",
    "yolo_empty",
    "unknown_format",
)


def make_refusal_case(
    folder: pathlib.Path, case: str
) -> tuple[str, str, str | None, str | None, str]:
    """Write an input that must be refused; return ``(fmt, input, images, classes, message part)``."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "instances.json"
    if case == "coco_missing_file":
        return "coco", str(json_path), None, None, "annotation file not found"
    if case == "coco_unparsable":
        json_path.write_text('{"images": [')
        return "coco", str(json_path), None, None, "not valid JSON"
    if case == "coco_not_instances":
        json_path.write_text("[1, 2, 3]")
        return "coco", str(json_path), None, None, "not a COCO instances file"
    if case == "coco_empty":
        json_path.write_text(
            json.dumps({"images": [], "annotations": [], "categories": CATEGORIES})
        )
        return "coco", str(json_path), None, None, "the dataset is empty"
    if case == "coco_duplicate_ids":
        images = [{"id": 7, "file_name": "a.jpg"}, {"id": 7, "file_name": "b.jpg"}]
        payload = {"images": images, "annotations": [], "categories": CATEGORIES}
        json_path.write_text(json.dumps(payload))
        return "coco", str(json_path), None, None, "duplicate image id 7"
    if case == "voc_missing_folder":
        return "voc", str(folder / "nowhere"), None, None, "annotation folder not found"
    if case == "voc_empty":
        (folder / "voc").mkdir(exist_ok=True)
        return "voc", str(folder / "voc"), None, None, "the dataset is empty"
    if case == "voc_unparsable":
        (folder / "voc").mkdir(exist_ok=True)
        (folder / "voc" / "a.xml").write_text("<annotation><filename>a.jpg</filename>")
        return "voc", str(folder / "voc"), None, None, "not valid XML"
    if case == "yolo_no_classes":
        (folder / "labels").mkdir(exist_ok=True)
        (folder / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
        return "yolo", str(folder / "labels"), None, None, "--classes"
    if case == "yolo_empty":
        (folder / "labels").mkdir(exist_ok=True)
        (folder / "names.txt").write_text("cat\n")
        return (
            "yolo",
            str(folder / "labels"),
            None,
            str(folder / "names.txt"),
            "the dataset is empty",
        )
    if case == "unknown_format":
        return "pascal", str(folder), None, None, "unknown format 'pascal'"
    raise ValueError(f"unknown refusal case {case!r}")


def coco_to_yolo(json_path: str, images_dir: str | None, out_dir: str) -> tuple[str, str]:
    """Convert a COCO dataset to YOLO labels in ``out_dir``; return ``(labels_dir, names_file)``.

    Class ``i`` of the names file is the i-th category by id; each label line is
    ``class cx cy w h`` with full float precision, normalised by the real image size when the
    image in ``images_dir`` can be opened (as YOLO tools do), else by the JSON's size. Images
    are not copied (pass ``images_dir`` to the YOLO reader).
    """
    data = json.loads(pathlib.Path(json_path).read_text())
    categories = sorted(data["categories"], key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(categories)}
    labels_dir = os.path.join(out_dir, "labels")
    os.makedirs(labels_dir, exist_ok=True)
    names_file = os.path.join(out_dir, "names.txt")
    pathlib.Path(names_file).write_text("".join(c["name"] + "\n" for c in categories))
    by_image: dict = {img["id"]: [] for img in data["images"]}
    for ann in data["annotations"]:
        by_image[ann["image_id"]].append(ann)
    for img in data["images"]:
        width, height = img["width"], img["height"]
        if images_dir:
            try:
                with Image.open(os.path.join(images_dir, img["file_name"])) as opened:
                    width, height = opened.size
            except OSError:
                pass
        lines = []
        for ann in by_image[img["id"]]:
            x, y, w, h = ann["bbox"]
            cx, cy = (x + w / 2) / width, (y + h / 2) / height
            lines.append(
                f"{index[ann['category_id']]} {cx!r} {cy!r} {w / width!r} {h / height!r}\n"
            )
        stem = os.path.splitext(img["file_name"])[0]
        pathlib.Path(labels_dir, f"{stem}.txt").write_text("".join(lines))
    return labels_dir, names_file


@dataclasses.dataclass
class Outcome:
    """What reading + validating a dataset gave (see ``validate_all``)."""

    quarantine: list[tuple[str, str, str, int]]
    records: list
    images_read: int
    images_accepted: int
    boxes_read: int
    boxes_accepted: int
    validated: dict
    examples: dict
    label_map: object


def validate_all(
    fmt: str, input_path: str, images_dir: str | None = None, classes_file: str | None = None
) -> Outcome:
    """Read a dataset and validate every image in a plain loop; return the ``Outcome``.

    ``examples`` maps image id to the decoded tf.Example features of accepted images.
    """
    from components.data.example_codec import decode_example
    from components.data.labels import build_label_map
    from components.data.readers import read_dataset
    from components.data.validate import validate_image

    dataset = read_dataset(fmt, input_path, images_dir, classes_file)
    label_map = build_label_map(dataset.classes)
    records = list(dataset.quarantine)
    validated, examples = {}, {}
    for image in dataset.images:
        result = validate_image(image, label_map)
        validated[image.image_id] = result
        records += result.quarantine
        if result.example is not None:
            examples[image.image_id] = decode_example(result.example)
    return Outcome(
        quarantine=sorted((r.kind, r.reason, r.image_id, r.boxes) for r in records),
        records=records,
        images_read=dataset.images_read,
        images_accepted=len(examples),
        boxes_read=dataset.boxes_read,
        boxes_accepted=sum(v.boxes_accepted for v in validated.values()),
        validated=validated,
        examples=examples,
        label_map=label_map,
    )
