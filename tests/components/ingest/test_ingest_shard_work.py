"""The shared per-shard work: ordered read-ahead decoding and the written shard."""

from __future__ import annotations

import random
import threading
import time

import pytest

from components.data.labels import build_label_map
from components.data.records import SourceBox, SourceClass, SourceImage
from components.ingest import shard_work


def test_ordered_map_keeps_order_and_bounds_read_ahead():
    lock, state = threading.Lock(), {"started": 0, "max_ahead": 0}
    consumed = []

    def slow_square(x: int) -> int:
        with lock:
            state["started"] += 1
            ahead = state["started"] - len(consumed)
            state["max_ahead"] = max(state["max_ahead"], ahead)
        time.sleep(random.Random(x).uniform(0, 0.003))  # finish out of order
        return x * x

    for value in shard_work.ordered_map(slow_square, list(range(60)), threads=3):
        consumed.append(value)
    assert consumed == [x * x for x in range(60)]
    assert state["max_ahead"] <= 3 * shard_work._READ_AHEAD + 1


def test_ordered_map_raises_the_worker_error_in_place():
    def fail_on_five(x: int) -> int:
        if x == 5:
            raise RuntimeError("five")
        return x

    got = []
    with pytest.raises(RuntimeError, match="five"):
        for value in shard_work.ordered_map(fail_on_five, list(range(20)), threads=2):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]


def test_write_shard_is_the_same_with_any_thread_count(sample_dir, tmp_path, monkeypatch):
    labels = build_label_map([SourceClass(1, "raccoon")])
    box = SourceBox(1, 10, 10, 50, 60)
    images = [
        SourceImage(
            f"raccoon-{i}",
            f"raccoon-{i}.jpg",
            str(sample_dir / "images" / f"raccoon-{i}.jpg"),
            (box,),
        )
        for i in range(1, 15)
    ]
    images.append(SourceImage("gone", "gone.jpg", str(sample_dir / "images" / "gone.jpg"), (box,)))
    random.Random(0).shuffle(images)
    outcomes = []
    for threads in (1, 3):
        monkeypatch.setattr(shard_work, "DECODE_THREADS", threads)
        root = tmp_path / f"t{threads}"
        outcomes.append(
            shard_work.write_shard(str(root), ("train", 0), images, labels, {"train": 1})
        )
    single, threaded = outcomes
    assert single.file["examples"] == threaded.file["examples"] == 14
    assert single.image_stats == threaded.image_stats
    assert [q.image_id for q in threaded.quarantine] == ["gone"]
    with open(single.file["path"], "rb") as a, open(threaded.file["path"], "rb") as b:
        assert a.read() == b.read()
