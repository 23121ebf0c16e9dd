"""Benchmark: tf.Example encode/decode, protobuf runtime against the hand-written wire format.

``components.data.example_codec`` encodes and decodes tf.Example with the protobuf runtime (upb
backend, message classes built at import time). Until that switch it wrote the wire format by
hand in Python; that codec is kept below, verbatim, as ``baseline_encode_example`` and
``baseline_decode_example`` (the baseline of this comparison; nothing else uses it). Both run in the same process on the same examples, built
the way the ingest step builds them (``components.data.validate._encode``: the 13 keys of
``components.data.schema``): the encoded bytes of ``--images`` sample JPEGs of 30-100 KB from
components/data/sample/raccoon/images, with 1-20 boxes each (seeded). Checked first: both
encoders give the same bytes, and both decoders the same features.

Measured (median of ``--repeats`` passes over all examples, after a warm-up pass), in one run:
- encode and decode microseconds per example for each codec, and their ratios;
- ``validate_image`` milliseconds per image on the same images (read from memory: Pillow's full
  decode, the box checks and the encode), which is what ingestion pays per image, and the
  codec's share of it;
- the import time of each codec in a fresh process (the runtime one imports ``google.protobuf``
  and builds its descriptor pool; the hand-written one needed only ``struct``), and after how
  many images per process the faster encode has paid for it.

    .venv/bin/python benchmarks/example_codec.py [--repeats 7] [--images 20] [--passes 20]

Two runs on the shared 2-core development machine (protobuf 6.33.6, upb; defaults; 20 examples
of 37-100 KB, 2-18 boxes), hand-written -> protobuf: encode 505 -> 157 us/example (3.22x) and
198 -> 104 (1.92x); decode 391 -> 133 (2.94x) and 206 -> 63 (3.28x); ``validate_image`` 4.97
and 2.31 ms/image, of which the hand-written encode was 10.2% / 8.6% and the protobuf one 3.2% /
4.5%; the codec's import 125 / 51 ms (``google.protobuf``) against 1 ms. So the protobuf runtime
is not slower for what ingestion does, and ``components.data.example_codec`` uses it.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE = REPO / "components" / "data" / "sample" / "raccoon"
MIN_BYTES, MAX_BYTES = 30_000, 100_000


# --- The baseline: the hand-written codec components/data/example_codec.py had before it switched
# to the protobuf runtime, copied verbatim (only its two public functions renamed ``baseline_*``).
# The pipeline does not use it; it stays here so this benchmark can keep measuring it.

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


def baseline_encode_example(
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


def baseline_decode_example(data: bytes, with_kinds: bool = False) -> dict:
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


# --- end of the baseline.


def sample_images(count: int) -> list[pathlib.Path]:
    """The first ``count`` sample JPEGs (by name) whose size is within 30-100 KB."""
    paths = sorted((SAMPLE / "images").glob("*.jpg"))
    chosen = [p for p in paths if MIN_BYTES <= p.stat().st_size <= MAX_BYTES][:count]
    if not chosen:
        raise SystemExit(f"no JPEG of {MIN_BYTES}-{MAX_BYTES} bytes in {SAMPLE / 'images'}")
    return chosen


def ingest_like_features(paths: list[pathlib.Path], seed: int = 0) -> list[dict]:
    """``encode_example`` keyword arguments as ``validate._encode`` builds them (1-20 boxes)."""
    from components.data import schema

    rng = random.Random(seed)
    examples = []
    for path in paths:
        width, height = rng.randint(300, 1000), rng.randint(200, 800)
        boxes = []
        for _ in range(rng.randint(1, 20)):
            x0, y0 = rng.uniform(0, width - 20), rng.uniform(0, height - 20)
            boxes.append((x0, y0, rng.uniform(x0 + 1, width), rng.uniform(y0 + 1, height)))
        examples.append(
            {
                "bytes_features": {
                    schema.IMAGE_ENCODED: [path.read_bytes()],
                    schema.IMAGE_FORMAT: [b"jpeg"],
                    schema.IMAGE_FILENAME: [path.name.encode("utf-8")],
                    schema.IMAGE_SOURCE_ID: [path.stem.encode("utf-8")],
                    schema.CLASS_TEXT: [b"raccoon" for _ in boxes],
                },
                "int64_features": {
                    schema.IMAGE_HEIGHT: [height],
                    schema.IMAGE_WIDTH: [width],
                    schema.CLASS_LABEL: [1 for _ in boxes],
                    schema.IS_CROWD: [0 for _ in boxes],
                },
                "float_features": {
                    schema.BBOX_XMIN: [b[0] / width for b in boxes],
                    schema.BBOX_YMIN: [b[1] / height for b in boxes],
                    schema.BBOX_XMAX: [b[2] / width for b in boxes],
                    schema.BBOX_YMAX: [b[3] / height for b in boxes],
                    schema.AREA: [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes],
                },
            }
        )
    return examples


def per_item(function, items: list, repeats: int, passes: int) -> float:
    """Median over ``repeats`` of the seconds per item of ``passes`` passes over ``items``."""
    for item in items:  # warm-up
        function(item)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(passes):
            for item in items:
                function(item)
        times.append((time.perf_counter() - start) / (passes * len(items)))
    return statistics.median(times)


def import_seconds(statement: str, repeats: int, setup: str = "import components.data") -> float:
    """Median wall seconds of ``statement`` (an import) in a fresh interpreter, after ``setup``."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(REPO)!r}); {setup}; "
        f"t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    )
    command = [sys.executable, "-c", code]
    runs = [
        float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the results; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument(
        "--passes", type=int, default=20, help="passes over the examples per repeat"
    )
    args = parser.parse_args(argv)

    import google.protobuf
    from google.protobuf.internal import api_implementation

    from components.data import example_codec
    from components.data.labels import build_label_map
    from components.data.validate import validate_image
    from components.data.voc import read_voc

    paths = sample_images(args.images)
    examples = ingest_like_features(paths)
    encoded = [example_codec.encode_example(**kw) for kw in examples]
    for data, kw in zip(encoded, examples, strict=True):
        assert data == baseline_encode_example(**kw), "the two encoders disagree"
        assert example_codec.decode_example(data, True) == baseline_decode_example(data, True)
    sizes = [len(d) for d in encoded]
    boxes = [len(kw["float_features"]["image/object/area"]) for kw in examples]
    print(
        f"protobuf {google.protobuf.__version__} ({api_implementation.Type()} backend); "
        f"{len(examples)} examples of {min(sizes) // 1000}-{max(sizes) // 1000} KB "
        f"(median {statistics.median(sizes) / 1000:.0f} KB), {min(boxes)}-{max(boxes)} boxes; "
        f"median of {args.repeats} repeats x {args.passes} passes; outputs byte-identical"
    )

    timings = {}
    for name, encode, decode in (
        ("hand-written", baseline_encode_example, baseline_decode_example),
        ("protobuf", example_codec.encode_example, example_codec.decode_example),
    ):
        enc = per_item(lambda kw, e=encode: e(**kw), examples, args.repeats, args.passes)
        dec = per_item(decode, encoded, args.repeats, args.passes)
        timings[name] = (enc, dec)
        print(f"{name:<13} encode {enc * 1e6:8.1f} us/example   decode {dec * 1e6:8.1f} us/example")
    (hand_enc, hand_dec), (pb_enc, pb_dec) = timings["hand-written"], timings["protobuf"]
    print(
        f"speed-up of protobuf over hand-written: encode {hand_enc / pb_enc:.2f}x, "
        f"decode {hand_dec / pb_dec:.2f}x"
    )

    # validate_image on the same files (bytes served from memory): ingestion's per-image work.
    dataset = read_voc(str(SAMPLE / "annotations"), str(SAMPLE / "images"))
    label_map = build_label_map(dataset.classes)
    wanted = {p.name for p in paths}
    images = [i for i in dataset.images if pathlib.Path(i.path).name in wanted]
    blobs = {i.path: pathlib.Path(i.path).read_bytes() for i in images}
    validate = per_item(
        lambda image: validate_image(image, label_map, read_bytes=blobs.__getitem__),
        images,
        args.repeats,
        max(1, args.passes // 4),
    )
    print(
        f"validate_image {validate * 1e3:.2f} ms/image ({len(images)} of those images, with the "
        f"encode); the codec's share: hand-written encode {hand_enc / validate:.1%}, protobuf "
        f"encode {pb_enc / validate:.1%}"
    )

    baseline_imports = "import struct; from collections.abc import Mapping, Sequence"
    imports = {
        "hand-written codec (its imports)": import_seconds(baseline_imports, args.repeats),
        "protobuf codec": import_seconds("import components.data.example_codec", args.repeats),
        "of which google.protobuf": import_seconds(
            "from google.protobuf import descriptor_pb2, descriptor_pool, message_factory",
            args.repeats,
        ),
        "validate (PIL + codec)": import_seconds("import components.data.validate", args.repeats),
    }
    print(
        "import in a fresh process: "
        + ", ".join(f"{name} {seconds * 1e3:.0f} ms" for name, seconds in imports.items())
    )
    saved = hand_enc - pb_enc
    if saved > 0:
        extra = imports["protobuf codec"] - imports["hand-written codec (its imports)"]
        print(
            f"the import pays for itself after {extra / saved:.0f} images per process (Beam "
            "workers import google.protobuf anyway, with apache_beam)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
