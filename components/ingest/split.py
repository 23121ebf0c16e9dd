"""Deterministic train/eval split and shard assignment for the Examples artifact.

An image's split depends only on its identity (``image_id``) and the eval fraction, never on
the order of the input or on the other images, so adding images to a dataset never moves an
existing image between splits. A split the source already states (``SourceImage.split``) wins.
Shard counts depend only on how many images each split is assigned, so reruns on the same input
produce the same files.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from components import files
from components.artifacts.examples import (
    EVAL_SPLIT,
    SHARD_PREFIX,
    SHARD_SUFFIX,
    SPLIT_DIR,
    TRAIN_SPLIT,
)
from components.data.records import SourceImage
from components.errors import UserError

SPLITS = (TRAIN_SPLIT, EVAL_SPLIT)
# About 500 images (50-80 MB of typical JPEGs) per shard: big enough for sequential reads in
# training; small enough that the shards (the unit of parallel work: one worker validates and
# writes a whole shard) spread evenly over the workers.
IMAGES_PER_SHARD = 500

_SOURCE_SPLIT_NAMES = {
    "train": TRAIN_SPLIT,
    "training": TRAIN_SPLIT,
    "eval": EVAL_SPLIT,
    "val": EVAL_SPLIT,
    "valid": EVAL_SPLIT,
    "validation": EVAL_SPLIT,
    "test": EVAL_SPLIT,
}


def check_eval_fraction(eval_fraction: float) -> float:
    """Return ``eval_fraction`` as a float when it is in [0, 1); raise ``UserError`` otherwise."""
    try:
        value = float(eval_fraction)
    except (TypeError, ValueError):
        raise UserError(
            f"--eval-fraction must be a number in [0, 1), got {eval_fraction!r}"
        ) from None
    if not 0.0 <= value < 1.0 or math.isnan(value):
        raise UserError(f"--eval-fraction must be in [0, 1), got {eval_fraction}")
    return value


def _unit_hash(text: str) -> float:
    """Map ``text`` to a number in [0, 1) with SHA-256 (stable across runs and machines)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def hash_split(image_id: str, eval_fraction: float) -> str:
    """Return ``"eval"`` when the hash of ``image_id`` falls below ``eval_fraction``, else ``"train"``."""
    return EVAL_SPLIT if _unit_hash(f"split:{image_id}") < eval_fraction else TRAIN_SPLIT


def source_split(image: SourceImage) -> str | None:
    """Return the split the source states for ``image`` (``train``/``eval``) or None."""
    if not image.split:
        return None
    return _SOURCE_SPLIT_NAMES.get(image.split.lower(), TRAIN_SPLIT)


def assign_splits(images: Sequence[SourceImage], eval_fraction: float) -> list[str]:
    """Return the split of each image of ``images`` (same order).

    The source's split is used when it states one; otherwise the hash of the image id decides.
    When no image has a source split, ``0 < eval_fraction`` and the hash leaves one split empty
    on a dataset of two or more images, the image with the most extreme hash moves over, so both
    splits are non-empty on small inputs (still deterministic: it depends only on the ids).
    """
    splits = [source_split(image) or hash_split(image.image_id, eval_fraction) for image in images]
    if any(image.split for image in images) or eval_fraction <= 0 or len(images) < 2:
        return splits
    hashes = [_unit_hash(f"split:{image.image_id}") for image in images]
    if EVAL_SPLIT not in splits:
        splits[min(range(len(images)), key=hashes.__getitem__)] = EVAL_SPLIT
    elif TRAIN_SPLIT not in splits:
        splits[max(range(len(images)), key=hashes.__getitem__)] = TRAIN_SPLIT
    return splits


def num_shards(num_images: int) -> int:
    """Return the number of shards for a split of ``num_images`` images (at least 1)."""
    return max(1, math.ceil(num_images / IMAGES_PER_SHARD))


def shard_index(image_id: str, shards: int) -> int:
    """Return the shard (0 .. shards-1) that holds ``image_id``: a hash, independent of order."""
    if shards <= 1:
        return 0
    return int(_unit_hash(f"shard:{image_id}") * shards)


def shard_path(root: str, split: str, index: int, shards: int) -> str:
    """Return ``root/Split-<split>/data_tfrecord-<index>-of-<shards>.gz`` (5-digit numbers)."""
    name = f"{SHARD_PREFIX}-{index:05d}-of-{shards:05d}{SHARD_SUFFIX}"
    return files.join(root, SPLIT_DIR.format(split=split), name)
