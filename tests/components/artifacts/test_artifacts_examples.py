"""The Examples artifact: its validated labels reader and its two digests."""

from __future__ import annotations

import json

import pytest

from components.artifacts import examples
from components.errors import UserError

LABELS = {
    "classes": [{"id": 1, "name": "cat", "source_id": 3}, {"id": 2, "name": "dog", "source_id": 7}]
}


def _examples(root, labels=LABELS):
    root.mkdir(parents=True, exist_ok=True)
    (root / examples.LABELS_FILE).write_text(json.dumps(labels))
    (root / examples.STATS_FILE).write_text("{}")
    split = root / examples.SPLIT_DIR.format(split=examples.TRAIN_SPLIT)
    split.mkdir()
    (split / f"{examples.SHARD_PREFIX}-00000-of-00001{examples.SHARD_SUFFIX}").write_bytes(b"x" * 5)
    return root


def test_layout_names_are_the_published_contract():
    # Artifacts written by earlier versions and read by TFX-style tools use these names.
    assert examples.LABELS_FILE == "labels.json"
    assert examples.STATS_FILE == "stats.json"
    assert [examples.SPLIT_DIR.format(split=s) for s in examples.SPLITS] == [
        "Split-train",
        "Split-val",
        "Split-test",
    ]


def test_read_labels_and_categories(tmp_path):
    root = _examples(tmp_path / "ex")
    assert examples.read_labels(str(root)) == LABELS
    assert examples.categories(str(root)) == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found .*is not an Examples artifact"),
        ("{not json", "cannot read"),
        (json.dumps({"classes": [{"id": 1, "name": "a"}]}), "malformed"),
        (json.dumps({"classes": [{"id": 2, "name": "a", "source_id": 0}]}), "ids must be 1..K"),
        (json.dumps({"classes": []}), "lists no classes"),
        (json.dumps([1, 2]), "malformed"),
    ],
)
def test_read_labels_rejects_missing_or_invalid_files_naming_them(tmp_path, content, message):
    root = tmp_path / "ex"
    root.mkdir()
    path = root / examples.LABELS_FILE
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as err:
        examples.read_labels(str(root))
    assert str(path) in str(err.value)


def test_digests_follow_content_not_location(tmp_path):
    a = _examples(tmp_path / "a")
    b = _examples(tmp_path / "b")
    assert examples.files_digest(str(a)) == examples.files_digest(str(b))
    assert len(examples.files_digest(str(a))) == 16
    fingerprint = examples.data_fingerprint(str(a))
    assert fingerprint.startswith("sha256:") and fingerprint == examples.data_fingerprint(str(b))
    other = dict(LABELS, classes=LABELS["classes"][:1])
    (b / examples.LABELS_FILE).write_text(json.dumps(other))
    assert examples.files_digest(str(a)) != examples.files_digest(str(b))
    assert examples.data_fingerprint(str(a)) != examples.data_fingerprint(str(b))


def test_count_records_is_zero_without_shards(tmp_path):
    assert examples.count_records(str(tmp_path), examples.TEST_SPLIT) == 0


def test_examples_of_the_old_layout_are_refused_with_how_to_re_ingest(tmp_path):
    (tmp_path / "Split-train").mkdir()
    (tmp_path / "Split-eval").mkdir()
    with pytest.raises(UserError) as err:
        examples.require_split(str(tmp_path), examples.TEST_SPLIT)
    message = str(err.value)
    assert "no Split-test" in message and "before the train/val/test split" in message
    assert "ingest the data again" in message and "\n" not in message
    (tmp_path / "Split-test").mkdir()
    examples.require_split(str(tmp_path), examples.TEST_SPLIT)  # present: no error
