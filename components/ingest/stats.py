"""Dataset statistics: a per-image summary, an accumulator over them, and ``stats.json``.

``summarize`` turns one validated image into a small ``ImageStats`` (no pixels, no example
bytes). ``empty_accumulator`` / ``add`` / ``merge`` fold those, plus the quarantine records the
reader produced before any image was decoded, into counts and fixed-edge histograms (mergeable
in any order, so the Beam ``CombineFn`` of ``transforms`` and the in-process runner give the
same result). ``to_stats_json`` adds what the reader counted and checks that
read = accepted + quarantined holds for images and for boxes. No Beam, no TensorFlow here.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections import Counter

from components.data.records import QuarantineRecord
from components.data.validate import ValidatedImage

# Histogram edges (left-closed buckets; the last bucket is open-ended).
SQRT_AREA_EDGES = (0, 8, 16, 32, 64, 96, 128, 256, 512)  # sqrt(w*h) in pixels
RELATIVE_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)  # sqrt(box area / image area)
ASPECT_EDGES = (0.0, 0.25, 0.5, 0.8, 1.25, 2.0, 4.0)  # box width / height
IMAGE_SIDE_EDGES = (0, 128, 256, 512, 640, 1024, 2048, 4096)  # longer image side in pixels
COCO_SMALL, COCO_MEDIUM = 32**2, 96**2  # COCO area ranges (pixels)
_MICRO = 1_000_000  # width/height sums are kept in integer micro-pixels


@dataclasses.dataclass(frozen=True)
class ImageStats:
    """What the statistics need from one image after validation.

    ``quarantine`` holds ``(kind, reason, boxes)`` of every record the validation produced;
    ``box_sizes`` are the pixel ``(width, height)`` of the accepted boxes.
    """

    split: str
    accepted: bool
    width: int
    height: int
    image_format: str
    size_mismatch: bool
    reencoded: bool
    clipped_boxes: int
    boxes_read: int
    boxes_accepted: int
    class_counts: tuple[tuple[str, int], ...]
    box_sizes: tuple[tuple[float, float], ...]
    quarantine: tuple[tuple[str, str, int], ...]


def summarize(split: str, validated: ValidatedImage) -> ImageStats:
    """Return the ``ImageStats`` of one ``ValidatedImage`` assigned to ``split``."""
    width, height = int(validated.width or 0), int(validated.height or 0)
    return ImageStats(
        split=split,
        accepted=validated.example is not None,
        width=width,
        height=height,
        image_format=str(validated.image_format or "unknown"),
        size_mismatch=bool(validated.size_mismatch),
        reencoded=bool(validated.reencoded),
        clipped_boxes=int(validated.clipped_boxes),
        boxes_read=int(validated.boxes_read),
        boxes_accepted=int(validated.boxes_accepted),
        class_counts=tuple(sorted(validated.class_counts.items())),
        box_sizes=tuple((float(w), float(h)) for w, h in validated.box_sizes),
        quarantine=tuple((q.kind, q.reason, int(q.boxes)) for q in validated.quarantine),
    )


def _bucket(edges: tuple, value: float) -> int:
    return max(0, bisect.bisect_right(edges, value) - 1)


def _labels(edges: tuple) -> list[str]:
    return [f"{lo}-{hi}" for lo, hi in zip(edges, edges[1:], strict=False)] + [f">={edges[-1]}"]


def empty_accumulator() -> dict:
    """Return an accumulator with every count at zero."""
    return {
        "images_accepted": 0,
        "images_quarantined": 0,
        "boxes_validated": 0,
        "boxes_accepted": 0,
        "boxes_quarantined": 0,
        "size_mismatches": 0,
        "reencoded": 0,
        "clipped_boxes": 0,
        "reasons": Counter(),  # (kind, reason) -> records
        "reason_boxes": Counter(),  # (kind, reason) -> boxes removed
        "formats": Counter(),
        "split_images": Counter(),
        "split_boxes": Counter(),
        "split_classes": Counter(),  # (split, class) -> boxes
        "class_images": Counter(),  # class -> images with at least one box of it
        "image_side": [0] * len(IMAGE_SIDE_EDGES),
        # min w, max w, min h, max h, then the sums of w and h in micro-pixels: integers, so the
        # sums (and the means in stats.json) do not depend on the order images are added in.
        "image_wh": [math.inf, 0, math.inf, 0, 0, 0],
        "sqrt_area": [0] * len(SQRT_AREA_EDGES),
        "relative": [0] * len(RELATIVE_EDGES),
        "aspect": [0] * len(ASPECT_EDGES),
        "coco": [0, 0, 0],
        "box_wh": [math.inf, 0, math.inf, 0, 0, 0],
    }


def _add_quarantine(acc: dict, kind: str, reason: str, boxes: int) -> None:
    acc["reasons"][(kind, reason)] += 1
    acc["reason_boxes"][(kind, reason)] += boxes
    acc["boxes_quarantined"] += boxes
    if kind == "image":
        acc["images_quarantined"] += 1


def _add_image(acc: dict, item: ImageStats) -> None:
    for kind, reason, boxes in item.quarantine:
        _add_quarantine(acc, kind, reason, boxes)
    acc["boxes_validated"] += item.boxes_read
    acc["size_mismatches"] += int(item.size_mismatch)
    if not item.accepted:
        return
    acc["images_accepted"] += 1
    acc["boxes_accepted"] += item.boxes_accepted
    acc["reencoded"] += int(item.reencoded)
    acc["clipped_boxes"] += item.clipped_boxes
    acc["formats"][item.image_format] += 1
    acc["split_images"][item.split] += 1
    acc["split_boxes"][item.split] += item.boxes_accepted
    for name, count in item.class_counts:
        acc["split_classes"][(item.split, name)] += count
        acc["class_images"][name] += 1
    w, h = item.width, item.height
    acc["image_side"][_bucket(IMAGE_SIDE_EDGES, max(w, h))] += 1
    _update_range(acc["image_wh"], w, h)
    for bw, bh in item.box_sizes:
        side = math.sqrt(max(bw, 0.0) * max(bh, 0.0))
        acc["sqrt_area"][_bucket(SQRT_AREA_EDGES, side)] += 1
        acc["relative"][_bucket(RELATIVE_EDGES, side / math.sqrt(w * h) if w and h else 0.0)] += 1
        acc["aspect"][_bucket(ASPECT_EDGES, bw / bh if bh > 0 else math.inf)] += 1
        area = bw * bh
        acc["coco"][0 if area < COCO_SMALL else 1 if area < COCO_MEDIUM else 2] += 1
        _update_range(acc["box_wh"], bw, bh)


def _update_range(r: list, w: float, h: float) -> None:
    r[0], r[1], r[2], r[3] = min(r[0], w), max(r[1], w), min(r[2], h), max(r[3], h)
    r[4] += round(w * _MICRO)
    r[5] += round(h * _MICRO)


def _merge_range(a: list, b: list) -> None:
    a[0], a[1], a[2], a[3] = min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])
    a[4] += b[4]
    a[5] += b[5]


def add(accumulator: dict, element: ImageStats | QuarantineRecord) -> dict:
    """Add one image summary or one read-time quarantine record; return ``accumulator``."""
    if isinstance(element, QuarantineRecord):
        _add_quarantine(accumulator, element.kind, element.reason, int(element.boxes))
    else:
        _add_image(accumulator, element)
    return accumulator


def merge(accumulators) -> dict:
    """Return the sum of ``accumulators`` as a new accumulator (order does not matter)."""
    merged = empty_accumulator()
    for acc in accumulators:
        for key, value in acc.items():
            if isinstance(value, Counter):
                merged[key].update(value)
            elif key in ("image_wh", "box_wh"):
                _merge_range(merged[key], value)
            elif isinstance(value, list):
                merged[key] = [x + y for x, y in zip(merged[key], value, strict=True)]
            else:
                merged[key] += value
    return merged


def _range_json(r: list, count: int) -> dict:
    if not count:
        return {"width": None, "height": None}
    return {
        "width": {"min": r[0], "max": r[1], "mean": round(r[4] / (count * _MICRO), 2)},
        "height": {"min": r[2], "max": r[3], "mean": round(r[5] / (count * _MICRO), 2)},
    }


def to_stats_json(acc: dict, images_read: int, boxes_read: int, context: dict) -> dict:
    """Return the ``stats.json`` content from a combined accumulator and the reader's counts.

    ``context`` carries the label names (``classes``, in label order), ``num_shards`` per split,
    ``val_fraction``, ``test_fraction`` and ``split_source``; they are copied in. ``reconciled`` is True when
    read = accepted + quarantined for images and for boxes.
    """
    images = {
        "read": images_read,
        "accepted": acc["images_accepted"],
        "quarantined": acc["images_quarantined"],
    }
    boxes = {
        "read": boxes_read,
        "accepted": acc["boxes_accepted"],
        "quarantined": acc["boxes_quarantined"],
    }
    reconciled = all(d["read"] == d["accepted"] + d["quarantined"] for d in (images, boxes))
    splits = {}
    for split, shards in sorted(context["num_shards"].items()):
        splits[split] = {
            "images": acc["split_images"][split],
            "boxes": acc["split_boxes"][split],
            "shards": shards,
            "classes": {
                name: acc["split_classes"][(split, name)]
                for name in context["classes"]
                if acc["split_classes"][(split, name)]
            },
        }
    classes = {
        name: {
            "id": label,
            "boxes": sum(acc["split_classes"][(s, name)] for s in context["num_shards"]),
            "images": acc["class_images"][name],
        }
        for label, name in enumerate(context["classes"], start=1)
    }
    n_boxes = acc["boxes_accepted"]
    return {
        "images": images,
        "boxes": boxes,
        "reconciled": reconciled,
        "quarantine": [
            {
                "kind": kind,
                "reason": reason,
                "records": count,
                "boxes": acc["reason_boxes"][(kind, reason)],
            }
            for (kind, reason), count in sorted(acc["reasons"].items())
        ],
        "splits": splits,
        "split_source": context["split_source"],
        "val_fraction": context["val_fraction"],
        "test_fraction": context["test_fraction"],
        "classes": classes,
        "image_formats": dict(sorted(acc["formats"].items())),
        "size_mismatches": acc["size_mismatches"],
        "reencoded": acc["reencoded"],
        "clipped_boxes": acc["clipped_boxes"],
        "image_size": {
            **_range_json(acc["image_wh"], acc["images_accepted"]),
            "longer_side_histogram": dict(
                zip(_labels(IMAGE_SIDE_EDGES), acc["image_side"], strict=True)
            ),
        },
        "box_size": {
            **_range_json(acc["box_wh"], n_boxes),
            "coco_area": dict(zip(("small", "medium", "large"), acc["coco"], strict=True)),
            "sqrt_area_histogram": dict(
                zip(_labels(SQRT_AREA_EDGES), acc["sqrt_area"], strict=True)
            ),
            "relative_size_histogram": dict(
                zip(_labels(RELATIVE_EDGES), acc["relative"], strict=True)
            ),
            "aspect_ratio_histogram": dict(zip(_labels(ASPECT_EDGES), acc["aspect"], strict=True)),
        },
    }
