"""Deterministic splits and shard assignment."""

from __future__ import annotations

import pytest

from components.data.records import SourceImage
from components.errors import UserError
from components.ingest import split


def _images(n: int, source_split: str | None = None) -> list[SourceImage]:
    return [
        SourceImage(f"img-{i}", f"{i}.jpg", f"/x/{i}.jpg", split=source_split) for i in range(n)
    ]


def test_hash_split_is_stable_and_near_the_fraction():
    images = _images(2000)
    first = split.assign_splits(images, 0.2)
    assert first == split.assign_splits(list(images), 0.2)
    assert split.assign_splits(images[::-1], 0.2) == first[::-1]  # order does not matter
    share = first.count("eval") / len(first)
    assert 0.17 < share < 0.23
    # Growing the dataset never moves an existing image between splits.
    assert split.assign_splits(_images(3000), 0.2)[:2000] == first


def test_source_split_wins_and_is_normalised():
    images = _images(5, "val") + _images(5, "train")
    assert split.assign_splits(images, 0.5) == ["eval"] * 5 + ["train"] * 5


def test_small_dataset_gets_both_splits():
    for n in range(2, 12):
        splits = split.assign_splits(_images(n), 0.2)
        assert {"train", "eval"} <= set(splits), n
    assert split.assign_splits(_images(5), 0.0) == ["train"] * 5


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "x", float("nan")])
def test_bad_eval_fraction_is_a_user_error(bad):
    with pytest.raises(UserError, match="eval-fraction"):
        split.check_eval_fraction(bad)


def test_shards_count_and_index():
    assert split.num_shards(0) == 1
    assert split.num_shards(split.IMAGES_PER_SHARD) == 1
    assert split.num_shards(split.IMAGES_PER_SHARD + 1) == 2
    indices = [split.shard_index(f"id{i}", 4) for i in range(400)]
    assert set(indices) == {0, 1, 2, 3}
    assert indices == [split.shard_index(f"id{i}", 4) for i in range(400)]
    path = split.shard_path("/out", "train", 2, 3)
    assert path == "/out/Split-train/data_tfrecord-00002-of-00003.gz"
    assert (
        split.shard_path("gs://b/x", "eval", 0, 1)
        == "gs://b/x/Split-eval/data_tfrecord-00000-of-00001.gz"
    )
