"""Plain records that every dataset reader produces and the ingest step consumes.

A reader (COCO, VOC, YOLO) turns annotation files into a ``SourceDataset``: one ``SourceImage``
per image with its ``SourceBox`` list (pixel coordinates, as the source states them), the class
list, and the quarantine records for problems found while reading annotations (for example an
unknown category id or an annotation whose image id does not exist). Image bytes are not read
by readers: decoding and validation happen in the ingest step, per image, in parallel.
Nothing here imports TensorFlow or Beam.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SourceClass:
    """A class of the source dataset: its id there and its name."""

    source_id: int
    name: str


@dataclasses.dataclass(frozen=True)
class SourceBox:
    """One annotated box in absolute pixel coordinates of the source image.

    ``source_class_id`` is the category id as the source states it; ``index`` is the position
    of the annotation in the source (for quarantine messages); ``area`` is the source's area
    when it has one (COCO segmentation area), else None.
    """

    source_class_id: int
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    is_crowd: bool = False
    area: float | None = None
    index: int = 0


@dataclasses.dataclass(frozen=True)
class SourceImage:
    """One image of the source: where its bytes are and what its annotation claims.

    ``image_id`` is unique within the dataset. ``path`` is the image file (local path or a
    Beam/TF file system URI). ``claimed_width``/``claimed_height`` are the sizes the annotation
    states (None when it states none); the ingest step uses the decoded size and records a
    mismatch. ``split`` is the split the source assigns (``train``/``eval``) or None to let the
    ingest step split by a hash of ``image_id``. ``annotation_file`` names the file the boxes
    came from, for quarantine messages.
    """

    image_id: str
    file_name: str
    path: str
    boxes: tuple[SourceBox, ...] = ()
    claimed_width: int | None = None
    claimed_height: int | None = None
    split: str | None = None
    annotation_file: str = ""


@dataclasses.dataclass(frozen=True)
class QuarantineRecord:
    """One rejected image or annotation: what it was, where it came from, and why.

    ``kind`` is ``"image"`` or ``"box"``; ``boxes`` is how many boxes the rejection removes
    (for an image: all of its boxes; for a box record: 1), so stats reconcile.
    """

    kind: str
    source: str
    reason: str
    image_id: str = ""
    boxes: int = 0
    detail: str = ""

    def to_json(self) -> dict:
        """Return the record as a JSON-ready dict (one line of ``quarantine.jsonl``)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SourceDataset:
    """What a reader returns: images with boxes, classes, and read-time quarantine records.

    ``images_read`` / ``boxes_read`` count every image and box the annotation files mention,
    including those already quarantined here, so that read = accepted + quarantined holds.
    """

    images: list[SourceImage]
    classes: list[SourceClass]
    quarantine: list[QuarantineRecord]
    images_read: int
    boxes_read: int
