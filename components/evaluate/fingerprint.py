"""Content fingerprints that tie a blessing to the model and data it was computed on.

``model_fingerprint`` hashes the SavedModel files (graph and variables), so push can check
that the model it copies is the one that was evaluated; ``data_fingerprint`` hashes the
Examples' labels, stats and shard names and sizes, so a pushed version records which data
judged it. Both return ``sha256:<hex>``.
"""

from __future__ import annotations

import hashlib

from components.data import schema
from components.evaluate.baseline import join

_CHUNK = 1 << 20


def _walk_files(root: str) -> list[str]:
    """Paths relative to ``root`` of every file below it, sorted."""
    from tensorflow.io import gfile

    files = []
    for dirpath, _, filenames in gfile.walk(root):
        rel = dirpath[len(root) :].strip("/")
        files.extend(join(rel, name) if rel else name for name in filenames)
    return sorted(files)


def _hash_file(digest, path: str) -> None:
    """Feed the bytes of ``path`` into ``digest``."""
    from tensorflow.io import gfile

    with gfile.GFile(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)


def model_fingerprint(saved_model_dir: str) -> str:
    """sha256 over ``saved_model.pb`` and every file of ``variables/`` (names and bytes)."""
    digest = hashlib.sha256()
    names = ["saved_model.pb"] + [
        join("variables", f) for f in _walk_files(join(saved_model_dir, "variables"))
    ]
    for name in names:
        digest.update(name.encode() + b"\0")
        _hash_file(digest, join(saved_model_dir, name))
    return "sha256:" + digest.hexdigest()


def data_fingerprint(examples_dir: str) -> str:
    """sha256 over ``labels.json``, ``stats.json`` and the names and sizes of all shards."""
    from tensorflow.io import gfile

    digest = hashlib.sha256()
    for name in (schema.LABELS_FILE, schema.STATS_FILE):
        path = join(examples_dir, name)
        if gfile.exists(path):
            digest.update(name.encode() + b"\0")
            _hash_file(digest, path)
    for rel in _walk_files(examples_dir):
        if rel.startswith("Split-"):
            size = gfile.stat(join(examples_dir, rel)).length
            digest.update(f"{rel}\0{size}\0".encode())
    return "sha256:" + digest.hexdigest()
