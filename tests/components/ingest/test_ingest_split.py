"""Deterministic train / val / test splits and shard assignment."""

from __future__ import annotations

import pytest

from components.data.records import SourceImage
from components.errors import UserError
from components.ingest import split


def _images(n: int, source_split: str | None = None, prefix: str = "img") -> list[SourceImage]:
    return [
        SourceImage(f"{prefix}-{i}", f"{i}.jpg", f"/x/{i}.jpg", split=source_split)
        for i in range(n)
    ]


def test_hash_split_is_stable_and_near_the_fractions():
    images = _images(3000)
    first = split.assign_splits(images, 0.15, 0.15)
    assert first == split.assign_splits(list(images), 0.15, 0.15)
    assert split.assign_splits(images[::-1], 0.15, 0.15) == first[::-1]  # order does not matter
    for name in ("val", "test"):
        assert 0.13 < first.count(name) / len(first) < 0.17, name
    # Growing the dataset never moves an existing image between splits.
    assert split.assign_splits(_images(4000), 0.15, 0.15)[:3000] == first


def test_defaults_are_70_15_15():
    assert (split.DEFAULT_VAL_FRACTION, split.DEFAULT_TEST_FRACTION) == (0.15, 0.15)
    assert split.assign_splits(_images(50)) == split.assign_splits(_images(50), 0.15, 0.15)


def test_source_splits_win_and_are_mapped_onto_the_three():
    images = _images(5, "valid") + _images(5, "test", "t") + _images(20, "train", "tr")
    splits = split.assign_splits(images, 0.5, 0.2)
    assert splits[:10] == ["val"] * 5 + ["test"] * 5
    assert splits[10:] == ["train"] * 20  # the source has val and test: nothing is hashed out


def test_a_source_without_test_gets_it_hashed_out_of_its_train_images():
    train = _images(400, "train")
    images = _images(40, "val", "v") + train
    splits = split.assign_splits(images, 0.15, 0.15)
    assert splits[:40] == ["val"] * 40  # the source's val stays val
    rest = splits[40:]
    assert set(rest) == {"train", "test"}  # no extra val: the source has one
    assert 0.1 < rest.count("test") / len(rest) < 0.2
    assert rest == [split.hash_split(i.image_id, 0.15, 0.15).replace("val", "train") for i in train]


def test_small_dataset_gets_every_split():
    for n in range(3, 12):
        splits = split.assign_splits(_images(n), 0.15, 0.15)
        assert set(splits) == {"train", "val", "test"}, n
    assert split.assign_splits(_images(5), 0.0, 0.0) == ["train"] * 5
    assert "val" not in split.assign_splits(_images(5), 0.0, 0.2)


@pytest.mark.parametrize(
    ("val", "test", "message"),
    [
        (-0.1, 0.1, "--val-fraction must be in"),
        (0.1, 1.0, "--test-fraction must be in"),
        ("x", 0.1, "--val-fraction must be a number"),
        (float("nan"), 0.1, "--val-fraction must be in"),
        (0.5, 0.5, "nothing left to train on"),
    ],
)
def test_bad_fractions_are_a_user_error(val, test, message):
    with pytest.raises(UserError, match=message):
        split.check_fractions(val, test)


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
        split.shard_path("gs://b/x", "test", 0, 1)
        == "gs://b/x/Split-test/data_tfrecord-00000-of-00001.gz"
    )
