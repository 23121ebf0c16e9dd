"""The tf.data input pipeline that the search and train steps feed to Keras.

``make_dataset`` reads a split of the Examples artifact and yields batches of
``(images float32 [B, S, S, 3] in 0..255, {"boxes", "classes", "num_boxes"})``.
"""

from __future__ import annotations

import tensorflow as tf

from components.data import augment as augment_lib
from components.data import colour, example_reader, mosaic, preprocess
from components.detector.config import AugmentConfig

SHUFFLE_BUFFER = 256


def pad_boxes(
    boxes: tf.Tensor, classes: tf.Tensor, max_boxes: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Pad (or truncate) boxes [N, 4] and classes [N] to ``max_boxes`` rows.

    Padding rows are boxes of zeros with class 0. Returns ``(boxes float32 [M, 4], classes int32
    [M], num_boxes int32)`` with ``num_boxes = min(N, M)``.
    """
    num = tf.minimum(tf.shape(boxes)[0], max_boxes)
    pad = max_boxes - num
    boxes = tf.pad(tf.cast(boxes[:num], tf.float32), [[0, pad], [0, 0]])
    classes = tf.pad(tf.cast(classes[:num], tf.int32), [[0, pad]])
    boxes.set_shape([max_boxes, 4])
    classes.set_shape([max_boxes])
    return boxes, classes, num


def _eval_element(example: dict, image_size: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    image, _ = preprocess.resize_and_pad(example["image"], image_size)
    boxes = preprocess.boxes_to_input_frame(
        example["boxes"], example["height"], example["width"], image_size
    )
    return image, boxes, example["classes"]


def _not_crowd(example: dict) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    keep = tf.equal(example["is_crowd"], 0)
    boxes = tf.boolean_mask(example["boxes"], keep)
    return example["image"], boxes, tf.boolean_mask(example["classes"], keep)


def _train_element(
    example: dict,
    seed: tf.Tensor,
    image_size: int,
    config: AugmentConfig,
    partners: tf.Tensor | None = None,
    mosaic_switch: mosaic.MosaicSwitch | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Flip and scale-jitter one example, or (with ``partners``, 3 serialized examples, and
    probability ``config.mosaic`` while the switch is on) make the mosaic of the 4; then HSV."""

    def single():
        image, boxes, classes = _not_crowd(example)
        return augment_lib.augment(
            image,
            boxes,
            classes,
            image_size,
            seed,
            scale_min=config.scale_min,
            scale_max=config.scale_max,
        )

    def four():
        parts = [_not_crowd(example)]
        parts += [_not_crowd(example_reader.parse_example(partners[i])) for i in range(3)]
        mosaic_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        return mosaic.mosaic(*zip(*parts, strict=True), image_size, mosaic_seed)

    if partners is None or not config.mosaic:
        image, boxes, classes = single()
    else:
        draw = tf.random.stateless_uniform(
            [], seed=tf.random.experimental.stateless_fold_in(seed, 2)
        )
        use = draw < config.mosaic
        if mosaic_switch is not None:
            use = tf.logical_and(use, mosaic_switch.variable)
        image, boxes, classes = tf.cond(use, four, single)
    hsv_seed = tf.random.experimental.stateless_fold_in(seed, 3)
    image = colour.random_hsv(image, hsv_seed, config.hsv_h, config.hsv_s, config.hsv_v)
    return image, boxes, classes


def _partner_records(shards: list[str], seed: int | None, shuffle_buffer: int) -> tf.data.Dataset:
    """An endless stream of 3 serialized examples at a time: the other images of a mosaic."""
    partner_seed = None if seed is None else seed + 1
    records = example_reader.read_records(shards, shuffle_files=True, seed=partner_seed)
    records = records.repeat().shuffle(shuffle_buffer, seed=partner_seed)
    return records.batch(3, drop_remainder=True)


def make_dataset(
    examples_dir: str,
    split: str,
    image_size: int,
    batch_size: int,
    training: bool,
    max_boxes: int = 100,
    seed: int | None = None,
    augment: AugmentConfig | None = None,
    mosaic_switch: mosaic.MosaicSwitch | None = None,
    shuffle_buffer: int = SHUFFLE_BUFFER,
    include_metadata: bool = False,
) -> tf.data.Dataset:
    """Return a batched tf.data.Dataset of one split of the Examples artifact.

    Elements are ``(images, labels)``: ``images`` float32 [B, S, S, 3] with values 0..255
    (S = ``image_size``, aspect kept, padded bottom/right with 0 by
    :func:`preprocess.resize_and_pad`), ``labels`` a dict with ``boxes`` float32 [B, M, 4]
    (normalised ymin, xmin, ymax, xmax relative to the S x S input), ``classes`` int32 [B, M]
    (1..K, 0 = padding) and ``num_boxes`` int32 [B] (M = ``max_boxes``; extra boxes are cut).
    With ``include_metadata`` the dict also holds ``source_id`` [B], ``height`` and ``width`` [B]
    (the original image size) for evaluation.

    ``training=True`` shuffles shards and records (buffer ``shuffle_buffer``, reshuffled every
    epoch), skips crowd boxes, augments as ``augment`` says (an ``AugmentConfig``; None: its
    defaults): a random horizontal flip and scale jitter in [``scale_min``, ``scale_max``]
    (:mod:`components.data.augment`) or, with probability ``mosaic``, a mosaic of the example
    and 3 others drawn from the split (:mod:`components.data.mosaic`) while ``mosaic_switch``
    is on (None: always), then HSV colour gains (:mod:`components.data.colour`); it drops the
    last partial batch and does not repeat (one pass = one Keras epoch). With a ``seed`` the
    output is reproducible: the same seed gives the same sequence of epochs. ``training=False``
    keeps the file order and never augments. Raises UserError when the split has no shards.
    """
    augment = augment or AugmentConfig()
    shards = example_reader.list_shards(examples_dir, split)
    records = example_reader.read_records(shards, shuffle_files=training, seed=seed)
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        elements = tf.data.Dataset.zip((records, seeds))
        if augment.mosaic:
            partners = _partner_records(shards, seed, shuffle_buffer)
            elements = tf.data.Dataset.zip((records, seeds, partners))
    else:
        elements = records

    def to_element(record, element_seed=None, partners=None):
        example = example_reader.parse_example(record)
        if training:
            image, boxes, classes = _train_element(
                example, element_seed, image_size, augment, partners, mosaic_switch
            )
        else:
            image, boxes, classes = _eval_element(example, image_size)
        boxes, classes, num_boxes = pad_boxes(boxes, classes, max_boxes)
        labels = {"boxes": boxes, "classes": classes, "num_boxes": num_boxes}
        if include_metadata:
            labels.update(
                source_id=example["source_id"], height=example["height"], width=example["width"]
            )
        return image, labels

    dataset = elements.map(to_element, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    options = tf.data.Options()
    options.deterministic = not training or seed is not None
    dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)
