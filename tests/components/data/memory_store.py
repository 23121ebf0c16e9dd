"""A small in-memory object store registered as a Beam file system (scheme ``memstore``), so
the code paths of ``gs://`` / ``s3://`` locations run without a cloud account. Importing this
module registers it (Beam finds file systems among ``FileSystem``'s subclasses).
"""

from __future__ import annotations

import io
import posixpath

from apache_beam.io.filesystem import CompressedFile, CompressionTypes, FileMetadata, FileSystem

STORE: dict[str, bytes] = {}


class _Writer(io.BytesIO):
    mode = "wb"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def close(self) -> None:
        if not self.closed:
            STORE[self.path] = self.getvalue()
        super().close()


class _Reader(io.BytesIO):
    mode = "rb"


class MemoryObjectStore(FileSystem):
    """Objects in ``STORE`` keyed by full URI; no directories (like GCS and S3)."""

    @classmethod
    def scheme(cls):
        return "memstore"

    def join(self, basepath, *paths):
        return posixpath.join(basepath, *paths)

    def split(self, path):
        return posixpath.split(path)

    def mkdirs(self, path):
        pass

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        for path in sorted(STORE):
            if path.startswith(dir_or_prefix):
                yield FileMetadata(path, len(STORE[path]), 0.0)

    @staticmethod
    def _wrap(handle, path, compression_type):
        if compression_type == CompressionTypes.AUTO:
            compression_type = CompressionTypes.detect_compression_type(path)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return handle
        return CompressedFile(handle, compression_type)

    def create(
        self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO
    ):
        return self._wrap(_Writer(path), path, compression_type)

    def open(
        self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO
    ):
        if path not in STORE:
            raise FileNotFoundError(path)
        return self._wrap(_Reader(STORE[path]), path, compression_type)

    def copy(self, source_file_names, destination_file_names):
        for src, dst in zip(source_file_names, destination_file_names, strict=True):
            STORE[dst] = STORE[src]

    def rename(self, source_file_names, destination_file_names):
        for src, dst in zip(source_file_names, destination_file_names, strict=True):
            STORE[dst] = STORE.pop(src)

    def exists(self, path):
        return path in STORE

    def size(self, path):
        return len(STORE[path])

    def last_updated(self, path):
        return 0.0

    def checksum(self, path):
        return str(hash(STORE[path]))

    def metadata(self, path):
        return FileMetadata(path, len(STORE[path]), 0.0)

    def delete(self, paths):
        for path in paths:
            STORE.pop(path, None)
