"""Small file-system helpers for the dataset readers: local paths and Beam file-system URIs.

Local paths use ``os``; URIs with a scheme (``gs://``, ``s3://``, ...) go through Apache Beam's
``FileSystems``, imported only when such a URI is used. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import posixpath

from components.artifacts.files import is_remote


def _beam_fs():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def absolute(path: str) -> str:
    """Return ``path`` made absolute (local paths); URIs are returned without a trailing ``/``."""
    if is_remote(path):
        return path.rstrip("/")
    return os.path.abspath(path)


def normalize(path: str) -> str:
    """Return ``path`` with ``.`` / ``..`` / repeated slashes resolved (URIs keep their scheme)."""
    if is_remote(path):
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.normpath('/' + rest)[1:]}" if rest else path
    return os.path.normpath(path)


def join(base: str, *parts: str) -> str:
    """Join path components; URIs are joined with ``/``. Returns the joined path."""
    if is_remote(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def dirname(path: str) -> str:
    """Return the folder that holds ``path`` (``.`` for a bare local file name)."""
    if is_remote(path):
        return posixpath.dirname(path.rstrip("/"))
    return os.path.dirname(os.path.abspath(path)) if path else "."


def basename(path: str) -> str:
    """Return the last component of ``path``."""
    return posixpath.basename(path.rstrip("/")) if is_remote(path) else os.path.basename(path)


def exists(path: str) -> bool:
    """Return True when the file or folder ``path`` exists."""
    if is_remote(path):
        return _beam_fs().exists(path)
    return os.path.exists(path)


def is_file(path: str) -> bool:
    """Return True when ``path`` is an existing file (for URIs: an existing object)."""
    if is_remote(path):
        return _beam_fs().exists(path)
    return os.path.isfile(path)


def is_dir(path: str) -> bool:
    """Return True when ``path`` is a folder (for URIs: a prefix with at least one object)."""
    if is_remote(path):
        return bool(list_files(path))
    return os.path.isdir(path)


def list_files(folder: str) -> list[str]:
    """Return the sorted names (not paths) of the files directly inside ``folder``.

    Returns an empty list when the folder does not exist.
    """
    if is_remote(folder):
        prefix = folder.rstrip("/") + "/"
        result = _beam_fs().match([prefix + "*"])[0]
        names = {m.path[len(prefix) :] for m in result.metadata_list}
        return sorted(n for n in names if n and "/" not in n)
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))


def read_bytes(path: str) -> bytes:
    """Return the whole content of the file ``path`` (local or any Beam file-system URI).

    Raises ``FileNotFoundError`` when it does not exist and ``OSError`` when it cannot be read.
    """
    if not is_remote(path):
        with open(path, "rb") as handle:
            return handle.read()
    from apache_beam.io.filesystem import CompressionTypes

    fs = _beam_fs()
    try:
        with fs.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            return handle.read()
    except FileNotFoundError:
        raise
    except Exception as err:  # Beam wraps file system errors in BeamIOError / IOError
        if not fs.exists(path):  # asked only on failure: one round trip per read otherwise
            raise FileNotFoundError(f"no such file: {path}") from err
        raise OSError(f"cannot read {path}: {err}") from err


def open_binary(path: str):
    """Open ``path`` for binary reading and return the file object (caller closes it)."""
    if is_remote(path):
        from apache_beam.io.filesystem import CompressionTypes

        return _beam_fs().open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return open(path, "rb")  # noqa: SIM115 - returned to the caller
