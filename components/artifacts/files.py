"""Path helpers shared by the artifact modules: local paths and URIs (gs://, s3://) alike."""

from __future__ import annotations

import posixpath

_CHUNK = 1 << 20


def join(*parts: str) -> str:
    """Join path parts with "/" (works for local paths and URIs alike)."""
    return posixpath.join(*parts)


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URI (``scheme://...``) rather than a local path."""
    return "://" in path


def walk_files(root: str) -> list[str]:
    """Paths relative to ``root`` of every file below it, sorted (tf.io.gfile)."""
    from tensorflow.io import gfile

    files = []
    for dirpath, _, filenames in gfile.walk(root):
        rel = dirpath[len(root) :].strip("/")
        files.extend(join(rel, name) if rel else name for name in filenames)
    return sorted(files)


def hash_file(digest, path: str) -> None:
    """Feed the bytes of ``path`` into ``digest`` (tf.io.gfile)."""
    from tensorflow.io import gfile

    with gfile.GFile(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
