"""Per-image validation: decode a source image, check its boxes, serialize a tf.Example.

``validate_image`` is what the ingest step runs per image (inside Beam workers, so this module
never imports TensorFlow). Decisions, in one place:

- Every image is fully decoded with Pillow (``open`` + ``load``). A missing file quarantines the
  image with "missing image file"; bytes that are not an image, a truncated file or a corrupt one
  quarantine it with "unreadable image: ..." (the error text goes into ``detail``).
- The format is decided by content, not by the file extension. Grayscale and RGB JPEG (also MPO,
  the multi-picture JPEG of phone cameras) and every PNG keep their original bytes, with
  ``image/format`` naming the real format (a PNG named ``.jpg`` gives ``png``): TensorFlow's
  ``decode_image(channels=3)`` turns all of them into RGB (palette, gray+alpha and 16-bit PNGs
  included). Everything else (BMP, GIF, WEBP, TIFF, CMYK/YCCK JPEG, whose Adobe inversion Pillow
  handles) is converted to RGB by Pillow and re-encoded losslessly as PNG; a note says so.
- EXIF orientation is ignored: the stored bytes and the boxes stay in the raw pixel frame, which is
  what TensorFlow decodes (it ignores EXIF too). A note records a non-default orientation.
- The decoded size is used; when the annotation claims another size, a note records it and
  ``size_mismatch`` is set.
- Boxes, checked in this order: unknown class -> "unknown category id"; non-finite coordinates ->
  "invalid box coordinates"; width or height <= 0 -> "degenerate box"; sticking out of the image
  by more than 1 % of the image's side (at least 1 px) -> "box outside image"; sticking out by
  less -> clipped to the image and counted (``clipped_boxes``), as Ultralytics clips labels (a box
  that has no area left after clipping is "box outside image").
- Images without boxes (or whose boxes were all rejected) are kept as negatives.
- ``image/object/area`` is the source's area when it has one (COCO), else the clipped box's
  width * height in pixels. Box coordinates are normalised by the decoded width and height.

Counts reconcile: ``boxes_read == boxes_accepted + sum(q.boxes for q in quarantine)``.
"""

from __future__ import annotations

import dataclasses
import io
import math
import struct
from collections.abc import Callable

from PIL import Image, UnidentifiedImageError

from components import files
from components.data import example_codec, reasons, schema
from components.data.labels import LabelMap
from components.data.records import QuarantineRecord, SourceBox, SourceImage

# How far a box may stick out of the image and still be clipped instead of rejected: this
# fraction of the image's width (x) or height (y), and never less than CLIP_TOLERANCE_PX.
CLIP_TOLERANCE_FRACTION = 0.01
CLIP_TOLERANCE_PX = 1.0
_KEEP_JPEG_MODES = {"L", "RGB"}
_EXIF_ORIENTATION = 0x0112
# Formats Pillow may open (others, e.g. EPS which would run Ghostscript, are "not an image file").
DECODABLE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM")
Image.init()  # registers every plugin, so ``formats=`` above can name them all (MPO opens as JPEG)


@dataclasses.dataclass
class ValidatedImage:
    """The outcome of validating one source image.

    ``example`` is the serialized tf.Example, or None when the image is quarantined (then
    ``quarantine`` holds its image record). ``quarantine`` also holds the rejected boxes of a kept
    image. ``class_counts`` counts accepted boxes per class name, ``box_sizes`` holds the accepted
    boxes' (width, height) in pixels, ``width``/``height`` are the decoded size (0 when the image
    could not be decoded), ``image_format`` the real format by content (``jpeg``, ``png``, ...,
    "" when undecodable). ``notes`` explain anything changed or suspicious; ``size_mismatch`` and
    ``reencoded`` flag the two notes that stats count.
    """

    image_id: str
    split: str | None
    example: bytes | None
    quarantine: list[QuarantineRecord]
    boxes_read: int
    boxes_accepted: int
    class_counts: dict[str, int]
    width: int
    height: int
    image_format: str
    box_sizes: list[tuple[float, float]]
    notes: list[str]
    size_mismatch: bool = False
    reencoded: bool = False
    clipped_boxes: int = 0


@dataclasses.dataclass
class _Decoded:
    data: bytes
    image_format: str
    width: int
    height: int
    notes: list[str]
    reencoded: bool
    source_format: str = ""


class _ImageRejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def validate_image(
    image: SourceImage,
    label_map: LabelMap,
    read_bytes: Callable[[str], bytes] = files.read_bytes,
) -> ValidatedImage:
    """Validate one ``SourceImage`` and return a ``ValidatedImage`` (see the module docstring).

    ``read_bytes(path)`` returns the file's bytes and raises ``FileNotFoundError`` (or another
    ``OSError``) when it cannot; the default reads local paths and Beam file-system URIs.
    """
    boxes_read = len(image.boxes)
    try:
        decoded = _decode(image, read_bytes)
    except _ImageRejected as rejected:
        record = QuarantineRecord(
            kind=reasons.KIND_IMAGE,
            source=image.path,
            reason=rejected.reason,
            image_id=image.image_id,
            boxes=boxes_read,
            detail=_join_detail(image.annotation_file, rejected.detail),
        )
        return ValidatedImage(
            image_id=image.image_id,
            split=image.split,
            example=None,
            quarantine=[record],
            boxes_read=boxes_read,
            boxes_accepted=0,
            class_counts={},
            width=0,
            height=0,
            image_format="",
            box_sizes=[],
            notes=[],
        )

    notes = list(decoded.notes)
    extension_note = _extension_mismatch(image.file_name, decoded)
    if extension_note:
        notes.append(extension_note)
    size_mismatch = _claimed_size_differs(image, decoded.width, decoded.height)
    if size_mismatch:
        notes.append(
            f"annotation claims {image.claimed_width}x{image.claimed_height}, "
            f"decoded {decoded.width}x{decoded.height}: using the decoded size"
        )

    quarantine: list[QuarantineRecord] = []
    accepted: list[tuple[SourceBox, tuple[float, float, float, float], int, str]] = []
    clipped = 0
    for box in image.boxes:
        outcome = _check_box(box, label_map, decoded.width, decoded.height)
        if isinstance(outcome, str):
            quarantine.append(_box_record(image, box, outcome))
            continue
        coords, label, name, was_clipped = outcome
        clipped += int(was_clipped)
        accepted.append((box, coords, label, name))

    example = _encode(image, decoded, accepted)
    class_counts: dict[str, int] = {}
    for _, _, _, name in accepted:
        class_counts[name] = class_counts.get(name, 0) + 1
    if clipped:
        notes.append(
            f"{clipped} box(es) clipped to the image (at most {CLIP_TOLERANCE_FRACTION:.0%} of "
            f"its side, or {CLIP_TOLERANCE_PX:g} px, outside)"
        )
    return ValidatedImage(
        image_id=image.image_id,
        split=image.split,
        example=example,
        quarantine=quarantine,
        boxes_read=boxes_read,
        boxes_accepted=len(accepted),
        class_counts=class_counts,
        width=decoded.width,
        height=decoded.height,
        image_format=decoded.image_format,
        box_sizes=[(c[2] - c[0], c[3] - c[1]) for _, c, _, _ in accepted],
        notes=notes,
        size_mismatch=size_mismatch,
        reencoded=decoded.reencoded,
        clipped_boxes=clipped,
    )


def _join_detail(annotation_file: str, detail: str) -> str:
    parts = [f"annotation {annotation_file}" if annotation_file else "", detail]
    return "; ".join(p for p in parts if p)


def _read(image: SourceImage, read_bytes: Callable[[str], bytes]) -> bytes:
    try:
        return read_bytes(image.path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as err:
        raise _ImageRejected(reasons.MISSING_IMAGE, str(err)) from err
    except Exception as err:  # noqa: BLE001 - file systems raise their own error types
        text = str(err)
        if "not found" in text.lower() or "no such file" in text.lower():
            raise _ImageRejected(reasons.MISSING_IMAGE, text) from err
        raise _ImageRejected(reasons.UNREADABLE_FILE, f"{type(err).__name__}: {text}") from err


def _decode(image: SourceImage, read_bytes: Callable[[str], bytes]) -> _Decoded:
    data = _read(image, read_bytes)
    if not data:
        raise _ImageRejected(reasons.UNREADABLE_NOT_AN_IMAGE, "empty file")
    try:
        with Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS) as pil:
            pil_format = (pil.format or "").upper()
            pil.load()
            return _keep_or_reencode(data, pil, pil_format)
    except UnidentifiedImageError as err:
        # Pillow's message names the in-memory buffer's address: keep the detail reproducible.
        detail = f"Pillow cannot identify the image format (first bytes {data[:8]!r})"
        raise _ImageRejected(reasons.UNREADABLE_NOT_AN_IMAGE, detail) from err
    except Image.DecompressionBombError as err:
        raise _ImageRejected(reasons.UNREADABLE_CORRUPT, str(err)) from err
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as err:
        text = str(err) or type(err).__name__
        reason = (
            reasons.UNREADABLE_TRUNCATED
            if "truncat" in text.lower()
            else reasons.UNREADABLE_CORRUPT
        )
        raise _ImageRejected(reason, text) from err


def _keep_or_reencode(data: bytes, pil: Image.Image, pil_format: str) -> _Decoded:
    width, height = pil.size
    notes: list[str] = []
    orientation = pil.getexif().get(_EXIF_ORIENTATION, 1) if pil_format in ("JPEG", "MPO") else 1
    if orientation not in (1, None):
        notes.append(f"EXIF orientation {orientation} ignored (boxes and pixels in the raw frame)")
    if pil_format in ("JPEG", "MPO") and pil.mode in _KEEP_JPEG_MODES:
        return _Decoded(data, "jpeg", width, height, notes, False, pil_format)
    if pil_format == "PNG":
        return _Decoded(data, "png", width, height, notes, False, pil_format)
    converted = pil.convert("RGB")
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG", optimize=False)
    notes.append(f"{pil_format or 'unknown'} {pil.mode} image re-encoded as RGB PNG")
    return _Decoded(buffer.getvalue(), "png", width, height, notes, True, pil_format)


_EXTENSION_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def _extension_mismatch(file_name: str, decoded: _Decoded) -> str:
    """Return a note when a .jpg/.jpeg/.png file name does not match the content, else ""."""
    extension = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    named = _EXTENSION_FORMATS.get(extension)
    actual = "JPEG" if decoded.source_format == "MPO" else decoded.source_format
    if named is None or named == actual:
        return ""
    kept = "re-encoded as png" if decoded.reencoded else f"kept as {decoded.image_format}"
    return f"{decoded.source_format} content in a {extension} file ({kept})"


def _claimed_size_differs(image: SourceImage, width: int, height: int) -> bool:
    claimed_w, claimed_h = image.claimed_width, image.claimed_height
    if claimed_w is None and claimed_h is None:
        return False
    return (claimed_w is not None and claimed_w != width) or (
        claimed_h is not None and claimed_h != height
    )


def _check_box(box: SourceBox, label_map: LabelMap, width: int, height: int):
    """Return a quarantine reason, or ``((xmin, ymin, xmax, ymax), label, name, clipped)``."""
    found = label_map.lookup(box.source_class_id)
    if found is None:
        return reasons.UNKNOWN_CATEGORY
    coords = (box.xmin, box.ymin, box.xmax, box.ymax)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in coords):
        return reasons.INVALID_BOX
    xmin, ymin, xmax, ymax = (float(v) for v in coords)
    if xmax - xmin <= 0 or ymax - ymin <= 0:
        return reasons.DEGENERATE_BOX
    tol_x = max(CLIP_TOLERANCE_PX, CLIP_TOLERANCE_FRACTION * width)
    tol_y = max(CLIP_TOLERANCE_PX, CLIP_TOLERANCE_FRACTION * height)
    if xmin < -tol_x or ymin < -tol_y or xmax > width + tol_x or ymax > height + tol_y:
        return reasons.BOX_OUTSIDE_IMAGE
    clipped = (max(xmin, 0.0), max(ymin, 0.0), min(xmax, float(width)), min(ymax, float(height)))
    if clipped[2] - clipped[0] <= 0 or clipped[3] - clipped[1] <= 0:
        return reasons.BOX_OUTSIDE_IMAGE
    return clipped, found[0], found[1], clipped != (xmin, ymin, xmax, ymax)


def _box_record(image: SourceImage, box: SourceBox, reason: str) -> QuarantineRecord:
    detail = (
        f"image {image.path}; box #{box.index} class {box.source_class_id} "
        f"[xmin={box.xmin}, ymin={box.ymin}, xmax={box.xmax}, ymax={box.ymax}]"
    )
    return QuarantineRecord(
        kind=reasons.KIND_BOX,
        source=image.annotation_file or image.path,
        reason=reason,
        image_id=image.image_id,
        boxes=1,
        detail=detail,
    )


def _encode(image: SourceImage, decoded: _Decoded, accepted: list) -> bytes:
    width, height = decoded.width, decoded.height
    return example_codec.encode_example(
        bytes_features={
            schema.IMAGE_ENCODED: [decoded.data],
            schema.IMAGE_FORMAT: [decoded.image_format.encode()],
            schema.IMAGE_FILENAME: [image.file_name.encode("utf-8")],
            schema.IMAGE_SOURCE_ID: [image.image_id.encode("utf-8")],
            schema.CLASS_TEXT: [name.encode("utf-8") for _, _, _, name in accepted],
        },
        int64_features={
            schema.IMAGE_HEIGHT: [height],
            schema.IMAGE_WIDTH: [width],
            schema.CLASS_LABEL: [label for _, _, label, _ in accepted],
            schema.IS_CROWD: [int(box.is_crowd) for box, _, _, _ in accepted],
        },
        float_features={
            schema.BBOX_XMIN: [c[0] / width for _, c, _, _ in accepted],
            schema.BBOX_YMIN: [c[1] / height for _, c, _, _ in accepted],
            schema.BBOX_XMAX: [c[2] / width for _, c, _, _ in accepted],
            schema.BBOX_YMAX: [c[3] / height for _, c, _, _ in accepted],
            schema.AREA: [
                float(box.area) if box.area is not None else (c[2] - c[0]) * (c[3] - c[1])
                for box, c, _, _ in accepted
            ],
        },
    )
