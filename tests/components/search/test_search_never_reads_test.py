"""The search scores its trials on val and trains on train: it never opens Split-test."""

from __future__ import annotations

import shutil

import pytest

from components.search import run

tf = pytest.importorskip("tensorflow")


def _with_trapped_test_split(examples: str, out) -> str:
    """A copy of ``examples`` whose Split-test shard is not a TFRecord: reading it fails."""
    from components.data import example_reader

    copy = str(out / "examples")
    shutil.copytree(examples, copy)
    trap = out / "examples" / "Split-test"
    trap.mkdir()
    (trap / "data_tfrecord-00000-of-00001.gz").write_bytes(b"not a gzip tfrecord" * 64)
    shards = example_reader.list_shards(copy, "test")
    with pytest.raises(tf.errors.DataLossError):  # the trap springs on any read
        list(example_reader.read_records(shards))
    return copy


def test_search_never_reads_the_test_split(tiny_examples, tmp_path, tight_space):
    examples = _with_trapped_test_split(tiny_examples, tmp_path)
    summary = run(
        examples,
        str(tmp_path / "architecture"),
        algorithm="random",
        max_trials=1,
        epochs=1,
        seed=0,
        space=tight_space,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,  # no latency limit: every trial trains (not this test's subject)
    )
    assert summary["trials"] == 1 and summary["status_counts"] == {"COMPLETED": 1}
