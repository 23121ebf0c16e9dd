"""The Examples artifact (ingest writes it; search, train and evaluate read it).

Layout (TFX ExampleGen conventions)::

    Split-train/data_tfrecord-00000-of-000NN.gz   gzipped TFRecord shards of tf.Examples
    Split-val/...                                 (keys: components.data.schema)
    Split-test/...
    labels.json        {"classes": [{"id": 1..K, "name", "source_id"}, ...]}
    stats.json         dataset statistics (written last: its presence marks a complete artifact)
    quarantine.jsonl   the images left out, with reasons
    report.md          the ingestion report

The three splits have one job each: search and train fit on ``train``; the search scores its
trials and training selects its epoch on ``val``; evaluate, the gate and every reported AP use
``test`` only, a split no step chose on.

Plain constants and readers: importing this module never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os

from components import files
from components.errors import UserError
from components.files import hash_file, join, walk_files

TRAIN_SPLIT = "train"
VAL_SPLIT = "val"
TEST_SPLIT = "test"
SPLITS = (TRAIN_SPLIT, VAL_SPLIT, TEST_SPLIT)
# The shares of a source without splits that are hashed into val and test (70/15/15).
DEFAULT_VAL_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.15
SPLIT_DIR = "Split-{split}"
SHARD_PREFIX = "data_tfrecord"
SHARD_SUFFIX = ".gz"
LABELS_FILE = "labels.json"
STATS_FILE = "stats.json"
QUARANTINE_FILE = "quarantine.jsonl"
REPORT_FILE = "report.md"


def read_labels(examples_dir: str) -> dict:
    """Return the validated ``labels.json`` dict of ``examples_dir`` (a local path or a URI).

    Raises UserError naming the file when it is missing, unreadable, not a labels file
    (``components.data.labels.from_labels_json``) or lists no classes.
    """
    from components.data import labels as labels_lib

    path = join(examples_dir, LABELS_FILE)
    try:
        data = json.loads(files.read_text(path))
    except FileNotFoundError:
        raise UserError(f"{path} not found ({examples_dir} is not an Examples artifact)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from None
    try:
        label_map = labels_lib.from_labels_json(data)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    if label_map.num_classes < 1:
        raise UserError(f"{path} lists no classes")
    return data


def require_split(examples_dir: str, split: str) -> None:
    """Raise UserError when ``examples_dir`` has no ``Split-<split>`` folder.

    Examples written before the three-way split have ``Split-train`` and ``Split-eval`` only;
    the message says how to write them again.
    """
    directory = join(examples_dir, SPLIT_DIR.format(split=split))
    if files.is_dir(directory):
        return
    old = files.is_dir(join(examples_dir, SPLIT_DIR.format(split="eval")))
    why = (
        "it was written before the train/val/test split (it has Split-eval)"
        if old
        else "it has no such folder"
    )
    raise UserError(
        f"{examples_dir}: no Split-{split}: {why}; ingest the data again "
        f"(`nasdet ingest --input ... --output ...`, or run the pipeline) to get "
        f"{', '.join('Split-' + s for s in SPLITS)}"
    )


def refuse_old_layout(examples_dir: str) -> None:
    """Raise UserError when ``examples_dir`` has the older ``Split-eval`` and no ``Split-val``
    (search and train would otherwise score and select on nothing, or on the wrong split)."""
    if files.is_dir(join(examples_dir, SPLIT_DIR.format(split="eval"))):
        require_split(examples_dir, VAL_SPLIT)


def categories(examples_dir: str) -> list[dict]:
    """The COCO categories ``[{"id", "name"}, ...]`` of the Examples' ``labels.json``."""
    return [
        {"id": int(c["id"]), "name": str(c["name"])} for c in read_labels(examples_dir)["classes"]
    ]


def count_records(examples_dir: str, split: str) -> int:
    """Return the number of tf.Examples in ``split`` (0 when the split has no shards).

    Every shard is read to its end: a damaged one is a ``UserError`` naming it.
    """
    from components.data import example_reader

    try:
        shards = example_reader.list_shards(examples_dir, split)
    except UserError:
        return 0
    return sum(example_reader.count_shard(shard) for shard in shards)


def files_digest(examples_dir: str) -> str:
    """A digest of the local examples' files (relative names and sizes, and ``labels.json``).

    Not their path: a retried pod gets its input as a copy, possibly at another path. The train
    step keys its resumable working directory with it (16 hex digits).
    """
    h = hashlib.sha256()
    for root, dirs, names in os.walk(examples_dir):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, examples_dir)
            h.update(f"{rel}\0{os.path.getsize(path)}\0".encode())
            if name == LABELS_FILE:
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()[:16]


def data_fingerprint(examples_dir: str) -> str:
    """``sha256:<hex>`` over ``labels.json``, ``stats.json`` and the names and sizes of all shards.

    Local paths and URIs. Recorded in ``blessing.json`` and ``push.json``, so a pushed version
    says which data judged it. (Not the same digest as ``files_digest``: each keeps the format
    already stored by its step.)
    """
    digest = hashlib.sha256()
    for name in (LABELS_FILE, STATS_FILE):
        path = join(examples_dir, name)
        if files.is_file(path):
            digest.update(name.encode() + b"\0")
            hash_file(digest, path)
    split_prefix = SPLIT_DIR.format(split="")
    for rel in walk_files(examples_dir):
        if rel.startswith(split_prefix):
            size = files.size(join(examples_dir, rel))
            digest.update(f"{rel}\0{size}\0".encode())
    return "sha256:" + digest.hexdigest()


def content_digest(examples_dir: str) -> str:
    """``sha256:<hex>`` over the bytes of ``labels.json`` and of every file of the splits.

    Exactly the data search, train and evaluate read, by content: ingest writes the same bytes
    for the same images and labels (fixed gzip headers, shards chosen by hashing the image
    identity), so two ingestions of unchanged data have the same digest wherever they lie, and
    any changed image, box or label changes it. Local paths and URIs. The check-changes step
    compares it with the production version's (``push.json``'s ``trained_on``).
    """
    digest = hashlib.sha256()
    split_prefix = SPLIT_DIR.format(split="")
    for rel in walk_files(examples_dir):
        if rel == LABELS_FILE or rel.startswith(split_prefix):
            path = join(examples_dir, rel)
            digest.update(f"{rel}\0{files.size(path)}\0".encode())
            hash_file(digest, path)
    return "sha256:" + digest.hexdigest()
