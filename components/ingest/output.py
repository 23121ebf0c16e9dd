"""Where the ingest step's files go: local files or Beam file systems, and output staging.

Local paths use plain files; URIs with a scheme (``gs://``, ``s3://``, ...) go through
``apache_beam.io.filesystems.FileSystems`` (given the Beam extras for the object store), imported
only when such a URI is used, so a small local ingest never imports Beam. The output directory is
staged:

- local path: ``components.atomic_output.atomic_output_dir`` (temporary sibling, renamed into
  place; a failure leaves nothing behind);
- object-store URI: files are written under the temporary sibling prefix
  ``<parent>/.<name>.tmp-<id>/``; on success the previous content of ``<name>/`` is deleted and
  each file is moved into ``<name>/`` (copy + delete: object stores have no directory rename),
  ``stats.json`` last. So ``<name>/stats.json`` existing means the artifact is complete; a
  failure before the move deletes the temporary prefix and leaves ``<name>/`` untouched.

A remote Beam runner's graph writes under a staging folder (``staging_dir``) that its workers
share; ``copy_tree`` then lays those files into the staged output directory.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from components.artifacts.examples import STATS_FILE
from components.artifacts.files import is_remote
from components.atomic_output import atomic_output_dir
from components.data import source_fs


def _beam_fs():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def _uncompressed():
    from apache_beam.io.filesystem import CompressionTypes

    return CompressionTypes.UNCOMPRESSED


def join(root: str, *parts: str) -> str:
    """Join path parts onto ``root`` with ``/`` for URIs (gs://, s3://) and ``os.sep`` locally."""
    return source_fs.join(root, *parts)


@contextlib.contextmanager
def open_write(path: str) -> Iterator[BinaryIO]:
    """Yield a binary file object that writes ``path`` (local or URI; local parents are created)."""
    if is_remote(path):
        with _beam_fs().create(path, compression_type=_uncompressed()) as handle:
            yield handle
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as handle:
        yield handle


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (local or URI), creating local parent folders."""
    with open_write(path) as handle:
        handle.write(data)


@contextlib.contextmanager
def staged_output(output_dir: str) -> Iterator[str]:
    """Yield a temporary location for the artifact; move it to ``output_dir`` on success.

    See the module docstring for the guarantee on local paths and on object-store URIs.
    """
    if not is_remote(output_dir):
        with atomic_output_dir(output_dir) as tmp:
            yield tmp
        return
    parent, name = posixpath.split(output_dir.rstrip("/"))
    tmp = posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
    except BaseException:
        _delete_tree(tmp)
        raise
    _move_tree(tmp, output_dir.rstrip("/"))


def _list_files(root: str) -> list[str]:
    """Return every file under the URI ``root`` (empty when there is none)."""
    result = _beam_fs().match([posixpath.join(root, "**")])[0]
    return sorted(meta.path for meta in result.metadata_list)


def _delete_tree(root: str) -> None:
    """Delete every file under the URI ``root``; missing files are not an error."""
    files = _list_files(root)
    if files:
        _beam_fs().delete(files)


def _move_tree(src: str, dst: str) -> None:
    """Replace the content of ``dst`` with the files under ``src``; ``stats.json`` moves last."""
    _delete_tree(dst)
    files = _list_files(src)
    last = [f for f in files if posixpath.basename(f) == STATS_FILE]
    ordered = [f for f in files if f not in last] + last
    targets = [dst + f[len(src) :] for f in ordered]
    for source, target in zip(ordered, targets, strict=True):
        _beam_fs().rename([source], [target])


def staging_dir(temp_location: str) -> str:
    """Return a new folder under ``temp_location`` (local or URI) for one run's graph output."""
    return join(temp_location, f"nasdet-ingest-{uuid.uuid4().hex[:12]}")


def tree_files(root: str) -> list[str]:
    """Return the paths of every file under ``root`` (local or URI), sorted; empty when none."""
    if is_remote(root):
        return _list_files(root)
    found = []
    for folder, _, names in os.walk(root):
        found += [os.path.join(folder, name) for name in names]
    return sorted(found)


def copy_tree(src: str, dst: str) -> int:
    """Copy every file under ``src`` to the same relative path under ``dst``; return how many.

    Either side may be local or a URI; bytes are copied unchanged.
    """
    files = tree_files(src)
    for path in files:
        relative = path[len(src.rstrip("/")) + 1 :].replace(os.sep, "/")
        write_bytes(join(dst, *relative.split("/")), source_fs.read_bytes(path))
    return len(files)


def remove_tree(root: str) -> None:
    """Delete ``root`` and every file under it (local or URI); a missing root is not an error."""
    if is_remote(root):
        _delete_tree(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
