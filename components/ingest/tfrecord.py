"""TFRecord files without TensorFlow: the record framing, a gzip writer and a reader.

A TFRecord is ``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``
(little endian). Files are written through Beam's ``FileSystems`` with gzip compression, which
writes a fixed gzip header (no timestamp), so the same records give byte-identical files.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _default_crc32c_fn

_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> int:
    """Return the masked CRC-32C of ``data`` that TFRecord stores."""
    crc = _default_crc32c_fn(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """Return ``record`` framed as one TFRecord (length, CRCs and data)."""
    length = struct.pack("<Q", len(record))
    return b"".join(
        (
            length,
            struct.pack("<I", _masked_crc(length)),
            record,
            struct.pack("<I", _masked_crc(record)),
        )
    )


def write_gzip_tfrecord(path: str, records: Iterable[bytes]) -> int:
    """Write ``records`` in order to the gzip TFRecord file ``path``; return how many were written."""
    count = 0
    with FileSystems.create(path, compression_type=CompressionTypes.GZIP) as handle:
        for record in records:
            handle.write(frame(record))
            count += 1
    return count


def read_gzip_tfrecord(path: str) -> Iterator[bytes]:
    """Yield the records of the gzip TFRecord file ``path``; raise ``ValueError`` on a bad CRC."""
    with FileSystems.open(path, compression_type=CompressionTypes.GZIP) as handle:
        data = handle.read()
    offset = 0
    while offset < len(data):
        header = data[offset : offset + 12]
        if len(header) < 12:
            raise ValueError(f"{path}: truncated record header at byte {offset}")
        (length,) = struct.unpack("<Q", header[:8])
        if struct.unpack("<I", header[8:12])[0] != _masked_crc(header[:8]):
            raise ValueError(f"{path}: bad length checksum at byte {offset}")
        record = data[offset + 12 : offset + 12 + length]
        footer = data[offset + 12 + length : offset + 16 + length]
        if len(record) < length or len(footer) < 4:
            raise ValueError(f"{path}: truncated record at byte {offset}")
        if struct.unpack("<I", footer)[0] != _masked_crc(record):
            raise ValueError(f"{path}: bad data checksum at byte {offset}")
        yield record
        offset += 16 + length
