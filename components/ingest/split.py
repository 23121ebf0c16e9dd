"""Deterministic train / val / test split and shard assignment for the Examples artifact.

An image's split depends only on its identity (``image_id``) and the fractions, never on the
order of the input or on the other images, so adding images to a dataset never moves an
existing image between splits. One hash ``u`` in [0, 1) per image decides: ``u < test`` is
``test``, ``u < test + val`` is ``val``, the rest ``train``.

A split the source states (``SourceImage.split``) wins, mapped onto the three names (``valid``,
``validation`` and ``eval`` are ``val``). A source that states splits but has no ``test`` (a
VOC ``ImageSets`` or an Ultralytics dataset with train and val lists) gets its test images
hashed out of its own ``train`` images with the same rule; likewise for a missing ``val``. So
every run has a test split that no step chose on.

Shard counts depend only on how many images each split is assigned, so reruns on the same input
produce the same files.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from components import files
from components.artifacts.examples import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    SHARD_PREFIX,
    SHARD_SUFFIX,
    SPLIT_DIR,
    TEST_SPLIT,
    TRAIN_SPLIT,
    VAL_SPLIT,
)
from components.data.records import SourceImage
from components.errors import UserError

# About 500 images (50-80 MB of typical JPEGs) per shard: big enough for sequential reads in
# training; small enough that the shards (the unit of parallel work: one worker validates and
# writes a whole shard) spread evenly over the workers.
IMAGES_PER_SHARD = 500

_SOURCE_SPLIT_NAMES = {
    "train": TRAIN_SPLIT,
    "training": TRAIN_SPLIT,
    "val": VAL_SPLIT,
    "valid": VAL_SPLIT,
    "validation": VAL_SPLIT,
    "eval": VAL_SPLIT,
    "test": TEST_SPLIT,
    "testing": TEST_SPLIT,
}


def check_fractions(val_fraction: float, test_fraction: float) -> tuple[float, float]:
    """Return ``(val_fraction, test_fraction)`` as floats when each is in [0, 1) and their sum
    leaves images for training; raise ``UserError`` naming the option otherwise."""
    values = []
    for name, fraction in (("val", val_fraction), ("test", test_fraction)):
        try:
            value = float(fraction)
        except (TypeError, ValueError):
            raise UserError(
                f"--{name}-fraction must be a number in [0, 1), got {fraction!r}"
            ) from None
        if not 0.0 <= value < 1.0 or math.isnan(value):
            raise UserError(f"--{name}-fraction must be in [0, 1), got {fraction}")
        values.append(value)
    if values[0] + values[1] >= 1.0:
        raise UserError(
            f"--val-fraction + --test-fraction must be below 1 (nothing left to train on), "
            f"got {values[0]} + {values[1]}"
        )
    return values[0], values[1]


def _unit_hash(text: str) -> float:
    """Map ``text`` to a number in [0, 1) with SHA-256 (stable across runs and machines)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _split_hash(image_id: str) -> float:
    return _unit_hash(f"split:{image_id}")


def hash_split(image_id: str, val_fraction: float, test_fraction: float) -> str:
    """Return ``test``, ``val`` or ``train`` for ``image_id`` by its hash (see the module doc)."""
    u = _split_hash(image_id)
    if u < test_fraction:
        return TEST_SPLIT
    return VAL_SPLIT if u < test_fraction + val_fraction else TRAIN_SPLIT


def source_split(image: SourceImage) -> str | None:
    """Return the split the source states for ``image`` (``train``/``val``/``test``) or None.

    A name the source uses that is none of the known ones counts as ``train``.
    """
    if not image.split:
        return None
    return _SOURCE_SPLIT_NAMES.get(image.split.lower(), TRAIN_SPLIT)


def _ensure_non_empty(
    splits: list[str], images: Sequence[SourceImage], fractions: dict[str, float]
) -> None:
    """Give every split with a positive fraction at least one image (datasets of a few images):
    the train image with the lowest hash moves over (deterministic; train keeps one)."""
    for name in (TEST_SPLIT, VAL_SPLIT):
        if fractions[name] <= 0 or name in splits:
            continue
        donors = [i for i, s in enumerate(splits) if s == TRAIN_SPLIT]
        if len(donors) < 2:
            return
        index = min(donors, key=lambda i: _split_hash(images[i].image_id))
        splits[index] = name


def assign_splits(
    images: Sequence[SourceImage],
    val_fraction: float = DEFAULT_VAL_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> list[str]:
    """Return the split of each image of ``images`` (same order): ``train``, ``val`` or ``test``.

    The source's split is used when it states one; a split the source leaves out (no image
    states it) is hashed out of the source's ``train`` images; images with no stated split are
    hashed. Every split with a positive fraction gets at least one image while ``train`` keeps
    one (so small inputs still have all three).
    """
    fractions = {VAL_SPLIT: val_fraction, TEST_SPLIT: test_fraction}
    stated = [source_split(image) for image in images]
    present = {s for s in stated if s}
    splits = []
    for image, given in zip(images, stated, strict=True):
        if given is None:
            splits.append(hash_split(image.image_id, val_fraction, test_fraction))
            continue
        if given == TRAIN_SPLIT:
            hashed = hash_split(image.image_id, val_fraction, test_fraction)
            if hashed != TRAIN_SPLIT and hashed not in present:
                given = hashed
        splits.append(given)
    _ensure_non_empty(splits, images, fractions)
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
