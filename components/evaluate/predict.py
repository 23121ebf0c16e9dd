"""Run exported SavedModels over a split (test by default) of an Examples artifact, by the COCO protocol.

Each model is called through its ``evaluation`` signature (the top 100 detections per image
above a 0.001 score floor; see ``components.detector.export``). A model exported before that
signature existed is called through ``serving_default``, whose score threshold hides its weak
detections: ``Predictions.signatures`` says which one each model used.

Images of the same size are batched together (``serving_default`` takes uint8 [B, H, W, 3]
with any H and W, but one size per batch). Pending images are bounded, so memory stays small
even when every image has its own size. Several models can be run in the same pass (the
candidate and the baseline see exactly the same images, decoded once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from components.artifacts.examples import TEST_SPLIT, require_split
from components.errors import UserError
from components.metrics.coco_eval import ImageDetections, ImageTruth

SIGNATURE = "serving_default"
EVALUATION_SIGNATURE = "evaluation"  # = components.detector.export.EVALUATION_SIGNATURE
OUTPUT_KEYS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")


@dataclasses.dataclass
class Predictions:
    """Ground truth of the eval images, each model's detections, and a few decoded samples.

    ``detections[i]`` holds the detections of the i-th model given to ``predict_split``;
    ``samples`` maps image id -> a uint8 thumbnail (longer side at most ``THUMBNAIL_SIDE``)
    of the first ``keep_images`` images: the report draws the worst of them.
    """

    images: list[ImageTruth]
    detections: list[list[ImageDetections]]
    samples: dict[int, np.ndarray]
    signatures: list[str] = dataclasses.field(default_factory=list)


def load_serving_fn(
    saved_model_dir: str, signature: str | None = None
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Load the ``evaluation`` signature of the SavedModel in ``saved_model_dir`` (else
    ``serving_default``), or of ``signature`` when given.

    Returns a function mapping a uint8 batch [B, H, W, 3] to the numpy outputs of OUTPUT_KEYS;
    its ``signature`` attribute names the signature used. Raises UserError when the directory
    is not a SavedModel or lacks the signature or outputs.
    """
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(saved_model_dir)
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise UserError(f"cannot load a SavedModel from {saved_model_dir}: {err}") from err
    name = signature or (
        EVALUATION_SIGNATURE if EVALUATION_SIGNATURE in loaded.signatures else SIGNATURE
    )
    if name not in loaded.signatures:
        raise UserError(f"the SavedModel in {saved_model_dir} has no {name!r} signature")
    fn = loaded.signatures[name]
    missing = [key for key in OUTPUT_KEYS if key not in fn.structured_outputs]
    if missing:
        raise UserError(f"{name} of {saved_model_dir} lacks the outputs {', '.join(missing)}")
    inputs = list(fn.structured_input_signature[1].keys())
    input_name = "images" if "images" in inputs else inputs[0]

    def call(batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = fn(**{input_name: tf.constant(batch, dtype=tf.uint8)})
        return {key: outputs[key].numpy() for key in OUTPUT_KEYS}

    call.saved_model = loaded  # keep the loaded object (and its variables) alive
    call.signature = name
    return call


def _split_outputs(
    outputs: dict[str, np.ndarray], image_ids: Sequence[int]
) -> Iterator[ImageDetections]:
    """Cut batched model outputs into one ImageDetections per image (first num_detections)."""
    for row, image_id in enumerate(image_ids):
        n = int(np.asarray(outputs["num_detections"][row]).round())
        yield ImageDetections(
            image_id=image_id,
            boxes=np.asarray(outputs["detection_boxes"][row][:n], dtype=np.float64).reshape(-1, 4),
            scores=np.asarray(outputs["detection_scores"][row][:n], dtype=np.float64),
            classes=np.asarray(outputs["detection_classes"][row][:n]).round().astype(np.int64),
        )


def _truth(image_id: int, example: dict) -> ImageTruth:
    """An ImageTruth from one parsed example (numpy values of example_reader.parse_example)."""
    source_id = example["source_id"]
    if isinstance(source_id, bytes):
        source_id = source_id.decode("utf-8", "replace")
    return ImageTruth(
        image_id=image_id,
        source_id=str(source_id),
        width=int(example["width"]),
        height=int(example["height"]),
        boxes=np.asarray(example["boxes"], dtype=np.float64).reshape(-1, 4),
        classes=np.asarray(example["classes"], dtype=np.int64).reshape(-1),
        is_crowd=np.asarray(example["is_crowd"], dtype=np.int64).reshape(-1),
        area=np.asarray(example["area"], dtype=np.float64).reshape(-1),
    )


def batches_by_size(
    items: Iterator[tuple[int, np.ndarray]], batch_size: int, max_pending: int | None = None
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Group ``(image_id, image)`` pairs into same-size batches of at most ``batch_size``.

    A size group is emitted when it is full; when more than ``max_pending`` images wait
    (default 4 x batch_size), the largest group is emitted early. Every image comes out once.
    """
    max_pending = max_pending or 4 * batch_size
    pending: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
    count = 0

    def emit(key):
        group = pending.pop(key)
        return [i for i, _ in group], np.stack([img for _, img in group])

    for image_id, image in items:
        key = tuple(image.shape)
        pending.setdefault(key, []).append((image_id, image))
        count += 1
        if len(pending[key]) >= batch_size:
            count -= len(pending[key])
            yield emit(key)
        elif count > max_pending:
            largest = max(pending, key=lambda k: len(pending[k]))
            count -= len(pending[largest])
            yield emit(largest)
    for key in list(pending):
        yield emit(key)


THUMBNAIL_SIDE = 320


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """``image`` scaled so its longer side is at most :data:`THUMBNAIL_SIDE` (boxes are
    normalised, so they still fit)."""
    from PIL import Image

    height, width = image.shape[:2]
    scale = THUMBNAIL_SIDE / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def predict_split(
    saved_model_dirs: Sequence[str | Callable],
    examples_dir: str,
    split: str = TEST_SPLIT,
    batch_size: int = 8,
    keep_images: int = 12,
) -> Predictions:
    """Run every SavedModel in ``saved_model_dirs`` over ``split`` of ``examples_dir``.

    An entry may also be a function already loaded with :func:`load_serving_fn`.

    Image ids are 1, 2, ... in the order of the split. Returns the ground truth, the detections
    of each model (same order as ``saved_model_dirs``) and the first ``keep_images`` images.
    Raises UserError when the split is missing or has no images.
    """
    import tensorflow as tf

    from components.data import example_reader

    require_split(examples_dir, split)
    try:
        return predict_examples(
            saved_model_dirs,
            example_reader.read_split(examples_dir, split).as_numpy_iterator(),
            batch_size,
            keep_images,
            what=f"the {split} split of {examples_dir}",
        )
    except tf.errors.DataLossError:
        example_reader.check_split(examples_dir, split)  # the UserError naming the shard
        raise


def predict_examples(
    saved_model_dirs: Sequence[str | Callable],
    examples: Iterable[dict],
    batch_size: int = 8,
    keep_images: int = 12,
    what: str = "the data",
) -> Predictions:
    """:func:`predict_split` on parsed examples (``example_reader.parse_example``'s numpy dicts)
    from anywhere: the same batching, so the same detections for the same images."""
    models = [m if callable(m) else load_serving_fn(m) for m in saved_model_dirs]
    images: list[ImageTruth] = []
    samples: dict[int, np.ndarray] = {}
    detections: list[list[ImageDetections]] = [[] for _ in models]

    def decoded() -> Iterator[tuple[int, np.ndarray]]:
        for example in examples:
            image_id = len(images) + 1
            images.append(_truth(image_id, example))
            image = np.asarray(example["image"], dtype=np.uint8)
            if len(samples) < keep_images:
                samples[image_id] = _thumbnail(image)
            yield image_id, image

    for ids, batch in batches_by_size(decoded(), batch_size):
        for model, out in zip(models, detections, strict=True):
            out.extend(_split_outputs(model(batch), ids))
    if not images:
        raise UserError(f"{what} has no images to evaluate")
    for out in detections:
        out.sort(key=lambda d: d.image_id)
    return Predictions(
        images=images,
        detections=detections,
        samples=samples,
        signatures=[model.signature for model in models],
    )
