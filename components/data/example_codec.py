"""tf.Example encoding and decoding in plain Python (protobuf wire format, no TensorFlow).

The message layout (tensorflow/core/example/{example,feature}.proto):
``Example{features=1: Features{feature=1: map<string, Feature>}}``; ``Feature`` is a oneof of
``bytes_list=1``, ``float_list=2``, ``int64_list=3``, each list holding ``value=1`` (floats and
int64s packed). Map entries are written in sorted key order, so the same features always give the
same bytes. ``tf.train.Example.FromString`` and ``tf.io.parse_single_example`` read the output.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

_WIRE_VARINT = 0
_WIRE_FIXED64 = 1
_WIRE_LEN = 2
_WIRE_FIXED32 = 5

_BYTES_LIST = 1
_FLOAT_LIST = 2
_INT64_LIST = 3
KINDS = {_BYTES_LIST: "bytes", _FLOAT_LIST: "float", _INT64_LIST: "int64"}


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | _WIRE_LEN) + _varint(len(payload)) + payload


def _feature(kind: int, values: Sequence) -> bytes:
    if kind == _BYTES_LIST:
        payload = b"".join(_len_field(1, bytes(v)) for v in values)
    elif kind == _FLOAT_LIST:
        payload = _len_field(1, struct.pack(f"<{len(values)}f", *values)) if values else b""
    else:
        payload = _len_field(1, b"".join(_varint(int(v)) for v in values)) if values else b""
    return _len_field(kind, payload)


def encode_example(
    bytes_features: Mapping[str, Sequence[bytes]] | None = None,
    int64_features: Mapping[str, Sequence[int]] | None = None,
    float_features: Mapping[str, Sequence[float]] | None = None,
) -> bytes:
    """Return the serialized tf.Example holding the given features.

    Each mapping goes from feature key to its list of values (bytes, ints or floats; floats are
    stored as float32). A key may appear in one mapping only (``ValueError`` otherwise). The
    output is deterministic: map entries are sorted by key.
    """
    features: dict[str, tuple[int, Sequence]] = {}
    for kind, mapping in (
        (_BYTES_LIST, bytes_features),
        (_INT64_LIST, int64_features),
        (_FLOAT_LIST, float_features),
    ):
        for key, values in (mapping or {}).items():
            if key in features:
                raise ValueError(f"feature {key!r} given twice")
            features[key] = (kind, values)
    entries = b"".join(
        _len_field(1, _len_field(1, key.encode("utf-8")) + _len_field(2, _feature(*features[key])))
        for key in sorted(features)
    )
    return _len_field(1, entries)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes):
    """Yield ``(field, wire_type, value)``; value is an int or a bytes payload."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == _WIRE_VARINT:
            value, pos = _read_varint(data, pos)
        elif wire == _WIRE_LEN:
            size, pos = _read_varint(data, pos)
            value = data[pos : pos + size]
            if len(value) != size:
                raise ValueError("truncated length-delimited field")
            pos += size
        elif wire == _WIRE_FIXED32:
            value = data[pos : pos + 4]
            pos += 4
        elif wire == _WIRE_FIXED64:
            value = data[pos : pos + 8]
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_list(kind: int, data: bytes) -> list:
    values: list = []
    for field, wire, value in _fields(data):
        if field != 1:
            continue
        if kind == _BYTES_LIST:
            values.append(bytes(value))
        elif kind == _FLOAT_LIST:
            if wire == _WIRE_LEN:
                values.extend(struct.unpack(f"<{len(value) // 4}f", value))
            else:
                values.append(struct.unpack("<f", value)[0])
        elif wire == _WIRE_LEN:
            pos = 0
            while pos < len(value):
                item, pos = _read_varint(value, pos)
                values.append(_signed(item))
        else:
            values.append(_signed(value))
    return values


def decode_example(data: bytes, with_kinds: bool = False) -> dict:
    """Return the features of a serialized tf.Example as ``{key: [values]}``.

    Values are bytes, ints or (float32-rounded) floats. With ``with_kinds=True`` each value is
    ``(kind, [values])`` with kind ``"bytes"``, ``"float"`` or ``"int64"``. Raises ``ValueError``
    on malformed input.
    """
    result: dict = {}
    for field, _, features in _fields(data):
        if field != 1:
            continue
        for entry_field, _, entry in _fields(features):
            if entry_field != 1:
                continue
            key = ""
            kind, values = _BYTES_LIST, []
            for sub_field, _, sub in _fields(entry):
                if sub_field == 1:
                    key = bytes(sub).decode("utf-8")
                elif sub_field == 2:
                    for list_field, _, payload in _fields(sub):
                        if list_field in KINDS:
                            kind, values = list_field, _decode_list(list_field, payload)
            result[key] = (KINDS[kind], values) if with_kinds else values
    return result
