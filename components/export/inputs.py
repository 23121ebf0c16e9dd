"""The images the parity check runs on: an Examples split (with its ground truth) or image files.

- ``--examples DIR``: the ``test`` split (or ``split``) of an Examples artifact; the COCO AP of
  the SavedModel and the format are compared as well as their detections;
- ``--images SOURCE``: an image, folder, glob or list file, as ``nasdet predict`` reads them
  (detections only: there is no ground truth);
- neither: the raccoon images bundled with nasdet (detections only).

At most ``limit`` images are used (the first ones, in the source's order).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from components.errors import UserError
from components.metrics.coco_eval import ImageTruth

DEFAULT_LIMIT = 50
BUNDLED_IMAGES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "data",
    "sample",
    "raccoon",
    "images",
)


@dataclasses.dataclass
class ParityImages:
    """Decoded images (uint8 [H, W, 3]), their ground truth (or None) and where they came from."""

    images: list[np.ndarray]
    truth: list[ImageTruth] | None
    categories: list[dict] | None
    source: str


def from_examples(examples_dir: str, split: str, limit: int) -> ParityImages:
    """The first ``limit`` images of ``split`` of an Examples artifact, with their truth."""
    import tensorflow as tf

    from components.artifacts.examples import categories, require_split
    from components.data import example_reader
    from components.evaluate.predict import _truth

    require_split(examples_dir, split)
    images, truth = [], []
    try:
        for example in example_reader.read_split(examples_dir, split).as_numpy_iterator():
            if len(images) >= limit:
                break
            truth.append(_truth(len(images) + 1, example))
            images.append(np.asarray(example["image"], dtype=np.uint8))
    except tf.errors.DataLossError:
        example_reader.check_split(examples_dir, split)  # the UserError naming the shard
        raise
    if not images:
        raise UserError(f"the {split} split of {examples_dir} has no images")
    return ParityImages(images, truth, categories(examples_dir), f"{examples_dir} ({split})")


def from_files(source: str, limit: int) -> ParityImages:
    """The first ``limit`` decodable images of ``source`` (``nasdet predict``'s sources)."""
    from PIL import Image, UnidentifiedImageError

    from components.predict.sources import image_paths

    images = []
    for path in image_paths(source):
        if len(images) >= limit:
            break
        try:
            with Image.open(path) as pil:
                images.append(np.asarray(pil.convert("RGB")))
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise UserError(f"{path}: cannot decode the image ({err})") from err
    return ParityImages(images, None, None, source)


def parity_images(
    examples: str | None, images: str | None, split: str = "test", limit: int = DEFAULT_LIMIT
) -> ParityImages:
    """The parity images (see the module docstring); UserError for both or neither readable."""
    if limit < 1:
        raise UserError(f"--max-images must be at least 1, got {limit}")
    if examples and images:
        raise UserError("give --examples or --images, not both")
    if examples:
        return from_examples(examples, split, limit)
    return from_files(images or BUNDLED_IMAGES, limit)
