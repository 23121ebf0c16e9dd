"""Fixtures of the search tests: a tiny Examples artifact made from the bundled sample."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib

import pytest

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "components" / "data" / "sample" / "raccoon"


def write_examples(out_dir: pathlib.Path, n_train: int, n_eval: int, max_side: int = 96) -> str:
    """Write an Examples artifact of the first ``n_train + n_eval`` sample images.

    Images are downscaled (longer side ``max_side``) so trials stay fast; boxes are normalised,
    so they do not change. Returns the directory as a string.
    """
    import tensorflow as tf
    from PIL import Image

    from components.artifacts.examples import (
        LABELS_FILE,
        SHARD_PREFIX,
        SHARD_SUFFIX,
        SPLIT_DIR,
        TRAIN_SPLIT,
        VAL_SPLIT,
    )
    from components.data import schema
    from components.data.example_codec import encode_example
    from components.data.voc import read_voc

    dataset = read_voc(str(SAMPLE / "annotations"), str(SAMPLE / "images"))
    images = sorted(dataset.images, key=lambda i: i.image_id)[: n_train + n_eval]
    names = {c.source_id: c.name for c in dataset.classes}
    labels = {cid: i + 1 for i, cid in enumerate(sorted(names))}
    splits = {TRAIN_SPLIT: images[:n_train], VAL_SPLIT: images[n_train:]}
    for split, items in splits.items():
        split_dir = out_dir / SPLIT_DIR.format(split=split)
        split_dir.mkdir(parents=True)
        path = split_dir / f"{SHARD_PREFIX}-00000-of-00001{SHARD_SUFFIX}"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for item in items:
                image = Image.open(item.path).convert("RGB")
                width, height = image.size
                scale = max_side / max(width, height)
                image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))))
                buf = io.BytesIO()
                image.save(buf, format="JPEG", quality=90)
                boxes = item.boxes
                writer.write(
                    encode_example(
                        bytes_features={
                            schema.IMAGE_ENCODED: [buf.getvalue()],
                            schema.IMAGE_FORMAT: [b"jpeg"],
                            schema.IMAGE_FILENAME: [item.file_name.encode()],
                            schema.IMAGE_SOURCE_ID: [item.image_id.encode()],
                            schema.CLASS_TEXT: [names[b.source_class_id].encode() for b in boxes],
                        },
                        int64_features={
                            schema.IMAGE_HEIGHT: [image.size[1]],
                            schema.IMAGE_WIDTH: [image.size[0]],
                            schema.CLASS_LABEL: [labels[b.source_class_id] for b in boxes],
                            schema.IS_CROWD: [0 for _ in boxes],
                        },
                        float_features={
                            schema.BBOX_XMIN: [b.xmin / width for b in boxes],
                            schema.BBOX_YMIN: [b.ymin / height for b in boxes],
                            schema.BBOX_XMAX: [b.xmax / width for b in boxes],
                            schema.BBOX_YMAX: [b.ymax / height for b in boxes],
                            schema.AREA: [
                                (b.xmax - b.xmin) * (b.ymax - b.ymin) * scale * scale for b in boxes
                            ],
                        },
                    )
                )
    classes = [{"id": labels[cid], "name": names[cid], "source_id": cid} for cid in sorted(names)]
    with open(out_dir / LABELS_FILE, "w") as f:
        json.dump({"classes": classes}, f)
    return str(out_dir)


@pytest.fixture(scope="session")
def tiny_examples(tmp_path_factory) -> str:
    """An Examples artifact of 8 train and 4 eval sample images (longer side 96 px)."""
    return write_examples(tmp_path_factory.mktemp("search_examples"), 8, 4)


@pytest.fixture
def search_env(monkeypatch):
    """Quiet TensorFlow logs for subprocesses started by a test."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return dict(os.environ)


@pytest.fixture
def tight_space(monkeypatch) -> str:
    """Register a test-only search space (the cheapest point of ``small``); return its name.

    Only the cell's operations and block wiring and the learning rate vary, so every sampled
    point is still distinct while each trial builds, traces and trains the smallest model of
    the ``small`` space. The space is registered in-process only: tests that start search
    subprocesses keep ``small``.
    """
    from components.search import space as search_space

    name = "test-tight"
    small = search_space.SMALL
    tight = dataclasses.replace(
        small,
        name=name,
        num_blocks=search_space.IntRange(1, 2),
        cells_per_stage=search_space.IntRange(small.cells_per_stage.low, small.cells_per_stage.low),
        base_width=(min(small.base_width),),
        bifpn_width=(min(small.bifpn_width),),
        bifpn_depth=search_space.IntRange(small.bifpn_depth.low, small.bifpn_depth.low),
        head_depth=search_space.IntRange(small.head_depth.low, small.head_depth.low),
        image_size=(min(small.image_size),),
    )
    monkeypatch.setitem(search_space.SPACES, name, tight)
    return name


class Clock:
    """A monotonic clock the test moves by hand (``clock.now += seconds``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The search's time budget (``components.search.time_budget``) on a hand-moved clock."""
    import types

    from components.search import time_budget

    fake = Clock()
    monkeypatch.setattr(time_budget, "time", types.SimpleNamespace(monotonic=fake))
    return fake
