"""The one file-system layer of nasdet: local paths and URIs (``gs://``, ``s3://``, ...) alike.

Every step reads and writes files through these functions (the dataset readers, the artifact
modules, the serving root), so there is one answer to "which URIs work": local paths use ``os``;
a URI goes through Apache Beam's ``FileSystems``, imported only when a URI is used, with the
file systems of the Beam extras installed (``gs://`` in the image). Nothing here imports
TensorFlow: the ingest step and its Beam workers never load it. TensorFlow opens files itself
only where it reads them (``tf.data`` record files, ``tf.saved_model.load``).

One write scheme for everything that must never be seen half-written:

- a file: :func:`write_atomically` (a temporary sibling, then ``os.replace``; an object-store
  write is atomic by itself: the object appears when it is closed);
- a directory: :func:`staged_output` (local: a temporary sibling renamed into place, see
  :func:`atomic_output_dir`; URI: a temporary sibling prefix whose files are moved into place
  on success, the ``last`` names last, so their presence says the directory is complete).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

_CHUNK = 1 << 20


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URI (``scheme://...``) rather than a local path."""
    return "://" in path


def _fs():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def _uncompressed():
    from apache_beam.io.filesystem import CompressionTypes

    return CompressionTypes.UNCOMPRESSED


# --- paths -------------------------------------------------------------------------------------


def join(base: str, *parts: str) -> str:
    """Join path parts onto ``base`` (``/`` for URIs, ``os.path.join`` locally)."""
    if is_remote(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def absolute(path: str) -> str:
    """Return ``path`` made absolute (local paths); URIs are returned without a trailing ``/``."""
    return path.rstrip("/") if is_remote(path) else os.path.abspath(path)


def normalize(path: str) -> str:
    """Return ``path`` with ``.`` / ``..`` / repeated slashes resolved (URIs keep their scheme)."""
    if is_remote(path):
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.normpath('/' + rest)[1:]}" if rest else path
    return os.path.normpath(path)


def dirname(path: str) -> str:
    """Return the folder that holds ``path`` (``.`` for a bare local file name)."""
    if is_remote(path):
        return posixpath.dirname(path.rstrip("/"))
    return os.path.dirname(os.path.abspath(path)) if path else "."


def basename(path: str) -> str:
    """Return the last component of ``path``."""
    return posixpath.basename(path.rstrip("/")) if is_remote(path) else os.path.basename(path)


# --- looking -----------------------------------------------------------------------------------


def _match(pattern: str) -> list[str]:
    """The object paths matching the URI glob ``pattern`` (empty when none)."""
    result = _fs().match([pattern])[0]
    return sorted(meta.path for meta in result.metadata_list)


def _under(root: str) -> list[str]:
    """Every object path below the URI folder ``root``."""
    return _match(root.rstrip("/") + "/**")


def exists(path: str) -> bool:
    """Whether the file or folder ``path`` exists (a URI folder: some object below it)."""
    if is_remote(path):
        return _fs().exists(path) or bool(_under(path))
    return os.path.exists(path)


def is_file(path: str) -> bool:
    """Whether ``path`` is an existing file (for URIs: an existing object)."""
    return _fs().exists(path) if is_remote(path) else os.path.isfile(path)


def is_dir(path: str) -> bool:
    """Whether ``path`` is a folder (for URIs: a prefix with at least one object below it)."""
    return bool(_under(path)) if is_remote(path) else os.path.isdir(path)


def list_files(folder: str) -> list[str]:
    """The sorted names (not paths) of the files directly inside ``folder``; [] when none."""
    if is_remote(folder):
        prefix = folder.rstrip("/") + "/"
        names = {path[len(prefix) :] for path in _match(prefix + "*")}
        return sorted(n for n in names if n and "/" not in n)
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))


def list_dir(folder: str) -> list[str]:
    """The sorted names of the files and folders directly inside ``folder``; [] when none."""
    if is_remote(folder):
        prefix = folder.rstrip("/") + "/"
        return sorted({path[len(prefix) :].split("/", 1)[0] for path in _under(folder)} - {""})
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def walk_files(root: str) -> list[str]:
    """The paths relative to ``root`` (with ``/``) of every file below it, sorted."""
    if is_remote(root):
        prefix = root.rstrip("/") + "/"
        return sorted(path[len(prefix) :] for path in _under(root))
    found = []
    for folder, _, names in os.walk(root):
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        found += [name if rel == "." else f"{rel}/{name}" for name in names]
    return sorted(found)


def glob(pattern: str) -> list[str]:
    """The paths matching ``pattern`` (``*`` within a name), sorted."""
    if is_remote(pattern):
        return _match(pattern)
    import glob as globbing

    return sorted(globbing.glob(pattern))


def size(path: str) -> int:
    """The size of the file ``path`` in bytes."""
    if is_remote(path):
        return _fs().match([path])[0].metadata_list[0].size_in_bytes
    return os.path.getsize(path)


# --- reading -----------------------------------------------------------------------------------


def open_binary(path: str):
    """Open ``path`` for binary reading and return the file object (the caller closes it)."""
    if is_remote(path):
        return _fs().open(path, compression_type=_uncompressed())
    return open(path, "rb")  # noqa: SIM115 - returned to the caller


def read_bytes(path: str) -> bytes:
    """The whole content of the file ``path``.

    Raises ``FileNotFoundError`` when it does not exist and ``OSError`` when it cannot be read.
    """
    if not is_remote(path):
        with open(path, "rb") as handle:
            return handle.read()
    try:
        with open_binary(path) as handle:
            return handle.read()
    except FileNotFoundError:
        raise
    except Exception as err:  # Beam wraps file-system errors in BeamIOError / IOError
        if not _fs().exists(path):  # asked only on failure: one round trip per read otherwise
            raise FileNotFoundError(f"no such file: {path}") from err
        raise OSError(f"cannot read {path}: {err}") from err


def read_text(path: str) -> str:
    """The content of the UTF-8 text file ``path`` (errors as :func:`read_bytes`)."""
    return read_bytes(path).decode("utf-8")


def hash_file(digest, path: str) -> None:
    """Feed the bytes of the file ``path`` into the hashlib object ``digest``."""
    with open_binary(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


# --- writing -----------------------------------------------------------------------------------


@contextlib.contextmanager
def open_write(path: str) -> Iterator[BinaryIO]:
    """Yield a binary file object that writes ``path`` (local parent folders are created)."""
    if is_remote(path):
        with _fs().create(path, compression_type=_uncompressed()) as handle:
            yield handle
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as handle:
        yield handle


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``, creating local parent folders."""
    with open_write(path) as handle:
        handle.write(data)


def write_atomically(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old or the new content, never a
    part: locally through a temporary sibling and ``os.replace``; an object is atomic anyway."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if is_remote(path):
        write_bytes(path, data)
        return
    tmp = join(os.path.dirname(os.path.abspath(path)), f".{basename(path)}.tmp-{_token()}")
    try:
        write_bytes(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def make_dirs(path: str) -> None:
    """Create the local folder ``path`` and its parents; nothing for a URI (an object store has
    no folders: a prefix exists once an object is written below it)."""
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)


def copy(src: str, dst: str) -> None:
    """Copy the file ``src`` to ``dst`` (either side local or a URI), bytes unchanged."""
    if not is_remote(src) and not is_remote(dst):
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        shutil.copyfile(src, dst)
        return
    with open_binary(src) as source, open_write(dst) as target:
        while chunk := source.read(_CHUNK):
            target.write(chunk)


def copy_tree(src: str, dst: str, skip: Iterable[str] = (), last: Iterable[str] = ()) -> int:
    """Copy every file below ``src`` to the same relative path below ``dst``; return how many.

    Top-level names in ``skip`` are left out; files named in ``last`` are copied after the
    others (a reader that waits for them then finds everything else in place).
    """
    skip, last = set(skip), set(last)
    files = [rel for rel in walk_files(src) if rel.split("/", 1)[0] not in skip]
    files.sort(key=lambda rel: (basename(rel) in last, rel))
    for rel in files:
        copy(join(src, *rel.split("/")), join(dst, *rel.split("/")))
    return len(files)


def remove_tree(root: str) -> None:
    """Delete ``root`` and every file below it; a missing ``root`` is not an error."""
    if not is_remote(root):
        shutil.rmtree(root, ignore_errors=True)
        return
    files = _under(root)
    if _fs().exists(root):
        files.append(root)
    if files:
        _fs().delete(files)


def rename_tree(src: str, dst: str, last: Iterable[str] = ()) -> None:
    """Move every file below the URI ``src`` to the same place below ``dst`` (emptied first);
    files named in ``last`` move last. Object stores have no folder rename: copy + delete."""
    remove_tree(dst)
    last = set(last)
    files = sorted(_under(src), key=lambda path: (basename(path) in last, path))
    for path in files:
        _fs().rename([path], [dst.rstrip("/") + path[len(src.rstrip("/")) :]])


def _token() -> str:
    return uuid.uuid4().hex[:8]


@contextlib.contextmanager
def atomic_output_dir(path: str) -> Iterator[str]:
    """Yield a temporary sibling of the local folder ``path``; rename it to ``path`` on success.

    A failure (any exception) removes the temporary folder, so no half-written artifact is
    left behind. An existing *empty* ``path`` (KFP creates output folders up front) is replaced;
    an existing non-empty ``path`` is replaced as a whole only after the new content is complete.
    """
    if is_remote(path):
        raise ValueError(f"atomic_output_dir needs a local path, got {path}")
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{_token()}")
    os.makedirs(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
    elif os.path.exists(path):
        old = f"{tmp}.old"
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.rename(tmp, path)


@contextlib.contextmanager
def staged_output(output_dir: str, last: Iterable[str] = ()) -> Iterator[str]:
    """Yield a temporary location for the folder ``output_dir``; move it there on success.

    Local: :func:`atomic_output_dir`. URI: files are written under the temporary sibling prefix
    ``<parent>/.<name>.tmp-<id>/``; on success the previous content of ``output_dir`` is deleted
    and each file is moved into it, the ``last`` names last, so their presence means the folder
    is complete; a failure before the move deletes the temporary prefix and leaves
    ``output_dir`` untouched.
    """
    if not is_remote(output_dir):
        with atomic_output_dir(output_dir) as tmp:
            yield tmp
        return
    parent, name = posixpath.split(output_dir.rstrip("/"))
    tmp = posixpath.join(parent, f".{name}.tmp-{_token()}")
    try:
        yield tmp
    except BaseException:
        remove_tree(tmp)
        raise
    rename_tree(tmp, output_dir.rstrip("/"), last=last)
