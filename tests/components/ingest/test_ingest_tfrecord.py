"""The TensorFlow-free gzip TFRecord writer and reader."""

from __future__ import annotations

import gzip
import random

import pytest

from components.ingest import tfrecord


def test_write_read_round_trip_and_bytes_identical(tmp_path):
    records = [b"", b"a", b"x" * 100_000, bytes(range(256))]
    first, second = tmp_path / "a.gz", tmp_path / "sub" / "b.gz"
    assert tfrecord.write_gzip_tfrecord(str(first), records) == 4
    tfrecord.write_gzip_tfrecord(str(second), records)
    assert list(tfrecord.read_gzip_tfrecord(str(first))) == records
    assert first.read_bytes() == second.read_bytes()  # no timestamp in the gzip header
    assert gzip.decompress(first.read_bytes())[:8] == (0).to_bytes(8, "little")


def test_empty_file_is_valid(tmp_path):
    path = tmp_path / "empty.gz"
    assert tfrecord.write_gzip_tfrecord(str(path), []) == 0
    assert list(tfrecord.read_gzip_tfrecord(str(path))) == []


def test_known_crc_and_corruption_detected(tmp_path):
    # The bytes tf.io.TFRecordWriter writes for b"hello world" (length, masked CRC-32Cs).
    expected = "0b000000000000008615f50468656c6c6f20776f726c64007ed86d"
    assert tfrecord.frame(b"hello world").hex() == expected
    path = tmp_path / "bad.gz"
    data = bytearray(tfrecord.frame(b"hello world"))
    data[14] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(ValueError, match="checksum"):
        list(tfrecord.read_gzip_tfrecord(str(path)))


def test_same_bytes_as_beams_gzip_writer(tmp_path):
    """Shards are identical whichever engine wrote them (the Beam graph used Beam's writer)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    rng = random.Random(0)
    records = [rng.randbytes(rng.randint(0, 400_000)) + b"x" * 300_000 for _ in range(8)]
    ours, beams = tmp_path / "ours.gz", tmp_path / "beam.gz"
    tfrecord.write_gzip_tfrecord(str(ours), records)
    with FileSystems.create(str(beams), compression_type=CompressionTypes.GZIP) as handle:
        for record in records:
            handle.write(tfrecord.frame(record))
    assert ours.read_bytes() == beams.read_bytes()


def test_frame_is_beams_tfrecord_framing():
    """``frame`` writes what Beam's own TFRecord coder writes (kept because importing it is slow)."""
    import io

    from apache_beam.io.tfrecordio import _TFRecordUtil

    rng = random.Random(1)
    for record in [b"", b"a", rng.randbytes(70_000), bytes(range(256)) * 3]:
        handle = io.BytesIO()
        _TFRecordUtil.write_record(handle, record)
        assert tfrecord.frame(record) == handle.getvalue()
        handle.seek(0)
        assert _TFRecordUtil.read_record(handle) == record


def test_truncated_gzip_is_an_error(tmp_path):
    path = tmp_path / "cut.gz"
    tfrecord.write_gzip_tfrecord(str(path), [b"a" * 1000, b"b" * 1000])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="gzip"):
        list(tfrecord.read_gzip_tfrecord(str(path)))


def test_concatenated_gzip_members_and_trailing_garbage(tmp_path):
    path = tmp_path / "two.gz"
    first, second = tfrecord.frame(b"first"), tfrecord.frame(b"second")
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    assert list(tfrecord.read_gzip_tfrecord(str(path))) == [b"first", b"second"]
    path.write_bytes(gzip.compress(first) + b"not gzip")
    with pytest.raises(ValueError, match="not a gzip stream"):
        list(tfrecord.read_gzip_tfrecord(str(path)))
