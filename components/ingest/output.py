"""Where the ingest step's files go: Beam file systems, and staging of the output directory.

Every read and write goes through ``apache_beam.io.filesystems.FileSystems``, so local paths,
``gs://`` and ``s3://`` all work (given the Beam extras for the object store). The output
directory is staged:

- local path: ``components.atomic_output.atomic_output_dir`` (temporary sibling, renamed into
  place; a failure leaves nothing behind);
- object-store URI: files are written under the temporary sibling prefix
  ``<parent>/.<name>.tmp-<id>/``; on success the previous content of ``<name>/`` is deleted and
  each file is moved into ``<name>/`` (copy + delete: object stores have no directory rename),
  ``stats.json`` last. So ``<name>/stats.json`` existing means the artifact is complete; a
  failure before the move deletes the temporary prefix and leaves ``<name>/`` untouched.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from collections.abc import Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components.atomic_output import atomic_output_dir, is_remote
from components.data import schema, source_fs


def join(root: str, *parts: str) -> str:
    """Join path parts onto ``root`` with ``/`` for URIs (gs://, s3://) and ``os.sep`` locally."""
    return source_fs.join(root, *parts)


def read_bytes(path: str) -> bytes:
    """Return the bytes of the file at ``path`` (local or any Beam file system URI).

    Raises ``FileNotFoundError`` when it does not exist and ``OSError`` when it cannot be read.
    """
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            return handle.read()
    except FileNotFoundError:
        raise
    except Exception as err:  # Beam wraps file system errors in BeamIOError / IOError
        if not FileSystems.exists(path):
            raise FileNotFoundError(f"no such file: {path}") from err
        raise OSError(f"cannot read {path}: {err}") from err


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (local or URI), creating local parent folders."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
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
    result = FileSystems.match([posixpath.join(root, "**")])[0]
    return sorted(meta.path for meta in result.metadata_list)


def _delete_tree(root: str) -> None:
    """Delete every file under the URI ``root``; missing files are not an error."""
    files = _list_files(root)
    if files:
        FileSystems.delete(files)


def _move_tree(src: str, dst: str) -> None:
    """Replace the content of ``dst`` with the files under ``src``; ``stats.json`` moves last."""
    _delete_tree(dst)
    files = _list_files(src)
    last = [f for f in files if posixpath.basename(f) == schema.STATS_FILE]
    ordered = [f for f in files if f not in last] + last
    targets = [dst + f[len(src) :] for f in ordered]
    for source, target in zip(ordered, targets, strict=True):
        FileSystems.rename([source], [target])
