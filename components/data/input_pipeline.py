"""The tf.data input pipeline that the search and train steps feed to Keras.

``make_dataset`` reads a split of the Examples artifact and yields batches of
``(images float32 [B, S, S, 3] in 0..255, {"boxes", "classes", "num_boxes"})``.
"""

from __future__ import annotations

import tensorflow as tf

from components.data import augment, example_reader, preprocess

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


def _train_element(
    example: dict, seed: tf.Tensor, image_size: int, scale_min: float, scale_max: float
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    not_crowd = tf.equal(example["is_crowd"], 0)
    boxes = tf.boolean_mask(example["boxes"], not_crowd)
    classes = tf.boolean_mask(example["classes"], not_crowd)
    return augment.augment(
        example["image"],
        boxes,
        classes,
        image_size,
        seed,
        scale_min=scale_min,
        scale_max=scale_max,
    )


def make_dataset(
    examples_dir: str,
    split: str,
    image_size: int,
    batch_size: int,
    training: bool,
    max_boxes: int = 100,
    seed: int | None = None,
    scale_min: float = augment.SCALE_MIN,
    scale_max: float = augment.SCALE_MAX,
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
    epoch), skips crowd boxes, applies a random horizontal flip and scale jitter in
    [``scale_min``, ``scale_max``] (:mod:`components.data.augment`), and drops the last partial
    batch; it does not repeat (one pass = one Keras epoch). With a ``seed`` the output is
    reproducible: the same seed gives the same sequence of epochs. ``training=False`` keeps the
    file order and never augments. Raises UserError when the split has no shards.
    """
    shards = example_reader.list_shards(examples_dir, split)
    records = example_reader.read_records(shards, shuffle_files=training, seed=seed)
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        elements = tf.data.Dataset.zip((records, seeds))
    else:
        elements = records

    def to_element(record, element_seed=None):
        example = example_reader.parse_example(record)
        if training:
            image, boxes, classes = _train_element(
                example, element_seed, image_size, scale_min, scale_max
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
