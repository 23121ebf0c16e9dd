"""tf.Example codec without TensorFlow: wire format, determinism, and TensorFlow's own parsers."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import textwrap

import pytest

from components.data import example_codec, schema

FEATURES = {
    "bytes_features": {
        schema.IMAGE_ENCODED: [b"\x00\xff" * 300],
        schema.IMAGE_FORMAT: [b"jpeg"],
        schema.CLASS_TEXT: [b"raccoon", "ü".encode()],
        "empty/bytes": [],
    },
    "int64_features": {
        schema.IMAGE_HEIGHT: [417],
        schema.CLASS_LABEL: [1, 2, 300000],
        "negative": [-1, -(2**63), 2**63 - 1, 0],
        "empty/int": [],
    },
    "float_features": {
        schema.BBOX_XMIN: [0.125, 0.3333333],
        schema.AREA: [1e-30, 3.4e38, -2.5],
        "empty/float": [],
    },
}


# Frozen output: the bytes the hand-written encoder (before the switch to the protobuf runtime)
# wrote for these features. The runtime encoder must keep writing exactly these bytes, so shards
# stay byte-identical across the change.
CASES = {
    "no_features": {},
    "empty_mappings": dict(bytes_features={}, int64_features={}, float_features={}),
    "empty_lists": dict(
        bytes_features={"b": []}, int64_features={"i": []}, float_features={"f": []}
    ),
    "empty_key_and_value": dict(bytes_features={"": [b""]}),
    "int64_edges": dict(int64_features={"n": [-1, -(2**63), 2**63 - 1, 0, 1, 127, 128, -300000]}),
    "float32_rounding": dict(
        float_features={"f": [0.1, 1 / 3, 1e-30, 3.4e38, -2.5, 0.0, -0.0, 1e-45, 16777217.0]}
    ),
    "non_finite_floats": dict(float_features={"f": [math.inf, -math.inf, math.nan]}),
    "non_ascii_keys": dict(
        bytes_features={"ü": [b"x"], "z": [b"y"], "é/名": ["ü".encode()], "a": [b"\x00\xff"]},
        int64_features={"ab": [1], "Z": [2]},
        float_features={"\U0001f600": [1.5]},
    ),
    # Keys that are prefixes of others: the shorter sorts first (upb's own map sort would not).
    "prefix_keys": dict(int64_features={k: [i] for i, k in enumerate(["ab", "", "a/b", "a", "b"])}),
    "ingest_like": dict(
        bytes_features={
            schema.IMAGE_ENCODED: [bytes(range(200))],
            schema.IMAGE_FORMAT: [b"jpeg"],
            schema.IMAGE_FILENAME: [b"raccoon-1.jpg"],
            schema.IMAGE_SOURCE_ID: [b"raccoon-1"],
            schema.CLASS_TEXT: [b"raccoon", b"raccoon"],
        },
        int64_features={
            schema.IMAGE_HEIGHT: [417],
            schema.IMAGE_WIDTH: [650],
            schema.CLASS_LABEL: [1, 1],
            schema.IS_CROWD: [0, 1],
        },
        float_features={
            schema.BBOX_XMIN: [0.125, 0.5],
            schema.BBOX_YMIN: [0.25, 0.1],
            schema.BBOX_XMAX: [0.75, 0.9],
            schema.BBOX_YMAX: [0.875, 0.99],
            schema.AREA: [12345.0, 678.5],
        },
    ),
    "negative_image": dict(
        bytes_features={
            schema.IMAGE_ENCODED: [b"\x89PNG"],
            schema.IMAGE_FORMAT: [b"png"],
            schema.IMAGE_FILENAME: [b"n.png"],
            schema.IMAGE_SOURCE_ID: [b"7"],
            schema.CLASS_TEXT: [],
        },
        int64_features={schema.IMAGE_HEIGHT: [2], schema.IMAGE_WIDTH: [3], schema.CLASS_LABEL: []},
        float_features={schema.BBOX_XMIN: [], schema.AREA: []},
    ),
}

FROZEN = {
    "no_features": "0a00",
    "empty_mappings": "0a00",
    "empty_lists": "0a1b0a070a016212020a000a070a0166120212000a070a016912021a00",
    "empty_key_and_value": "0a0a0a080a0012040a020a00",
    "int64_edges": (
        "0a370a350a016e12301a2e0a2cffffffffffffffffff0180808080808080808001ffffffffffffffff7f0001"
        "7f8001a0d8edffffffffffff01"
    ),
    "float32_rounding": (
        "0a2f0a2d0a0166122812260a24cdcccc3dabaaaa3e6042a20d9ec97f7f000020c00000000000000080010000"
        "000000804b"
    ),
    "non_finite_floats": "0a170a150a01661210120e0a0c0000807f000080ff0000c07f",
    "non_ascii_keys": (
        "0a630a0a0a015a12051a030a01020a0b0a016112060a040a0200ff0a0b0a02616212051a030a01010a0a0a01"
        "7a12050a030a01790a100a06c3a92fe5908d12060a040a02c3bc0a0b0a02c3bc12050a030a01780a100a04f0"
        "9f9880120812060a040000c03f"
    ),
    "prefix_keys": (
        "0a3e0a090a0012051a030a01010a0a0a016112051a030a01030a0c0a03612f6212051a030a01020a0b0a0261"
        "6212051a030a01000a0a0a016212051a030a0104"
    ),
    "ingest_like": (
        "0aac050ae0010a0d696d6167652f656e636f64656412ce010acb010ac801000102030405060708090a0b0c0d"
        "0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233343536373839"
        "3a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465"
        "666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f9091"
        "92939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbd"
        "bebfc0c1c2c3c4c5c6c70a230a0e696d6167652f66696c656e616d6512110a0f0a0d726163636f6f6e2d312e"
        "6a70670a180a0c696d6167652f666f726d617412080a060a046a7065670a160a0c696d6167652f6865696768"
        "7412061a040a02a1030a210a11696d6167652f6f626a6563742f61726561120c120a0a0800e4404600a02944"
        "0a260a16696d6167652f6f626a6563742f62626f782f786d6178120c120a0a080000403f6666663f0a260a16"
        "696d6167652f6f626a6563742f62626f782f786d696e120c120a0a080000003e0000003f0a260a16696d6167"
        "652f6f626a6563742f62626f782f796d6178120c120a0a080000603fa4707d3f0a260a16696d6167652f6f62"
        "6a6563742f62626f782f796d696e120c120a0a080000803ecdcccc3d0a220a18696d6167652f6f626a656374"
        "2f636c6173732f6c6162656c12061a040a0201010a2f0a17696d6167652f6f626a6563742f636c6173732f74"
        "65787412140a120a07726163636f6f6e0a07726163636f6f6e0a1f0a15696d6167652f6f626a6563742f6973"
        "5f63726f776412061a040a0200010a200a0f696d6167652f736f757263655f6964120d0a0b0a09726163636f"
        "6f6e2d310a150a0b696d6167652f776964746812061a040a028a05"
    ),
    "negative_image": (
        "0a8e020a190a0d696d6167652f656e636f64656412080a060a0489504e470a1b0a0e696d6167652f66696c65"
        "6e616d6512090a070a056e2e706e670a170a0c696d6167652f666f726d617412070a050a03706e670a150a0c"
        "696d6167652f68656967687412051a030a01020a170a11696d6167652f6f626a6563742f6172656112021200"
        "0a1c0a16696d6167652f6f626a6563742f62626f782f786d696e120212000a1e0a18696d6167652f6f626a65"
        "63742f636c6173732f6c6162656c12021a000a1d0a17696d6167652f6f626a6563742f636c6173732f746578"
        "7412020a000a180a0f696d6167652f736f757263655f696412050a030a01370a140a0b696d6167652f776964"
        "746812051a030a0103"
    ),
}

# 210847 bytes
BIG_SHA256 = "2104e5a8109852fb3f8ef4a9a3c067c37dfe4e6ffc33adf7529246d71daaca17"
BIG_HEAD = "0a9bef0c0a98c10c0a03626967128fc10c0a8bc10c0a80c0"


def _big_example() -> bytes:
    return example_codec.encode_example(
        bytes_features={"big": [bytes(range(256)) * 800, b"", b"\x02" * 130]},
        int64_features={"n": list(range(-500, 500))},
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_codec_output_is_frozen(name):
    data = example_codec.encode_example(**CASES[name])
    assert data.hex() == FROZEN[name]
    decoded = example_codec.decode_example(data, True)
    expected = {
        key: (kind, list(values))
        for kind, mapping in (("bytes", "bytes_features"), ("int64", "int64_features"))
        for key, values in CASES[name].get(mapping, {}).items()
    }
    floats = CASES[name].get("float_features", {})
    assert list(decoded) == sorted([*expected, *floats])  # entries sorted by key, as written
    assert {k: v for k, v in decoded.items() if k not in floats} == expected
    for key, values in floats.items():
        assert decoded[key][0] == "float"
        assert decoded[key][1] == pytest.approx(values, rel=1e-6, nan_ok=True)


def test_codec_output_of_a_large_example_is_frozen():
    data = _big_example()
    assert len(data) == 210847
    assert data[:24].hex() == BIG_HEAD
    assert hashlib.sha256(data).hexdigest() == BIG_SHA256
    decoded = example_codec.decode_example(data)
    assert decoded["n"] == list(range(-500, 500))
    assert decoded["big"] == [bytes(range(256)) * 800, b"", b"\x02" * 130]


def test_codec_value_conversions_and_errors():
    encode = example_codec.encode_example
    like = encode({"a": [bytearray(b"xy")], "b": [memoryview(b"z")]})
    assert like == encode({"a": [b"xy"], "b": [b"z"]})
    with pytest.raises(TypeError):
        encode({"a": ["text, not bytes"]})
    with pytest.raises(TypeError):
        encode({"a": [3]})
    assert encode(int64_features={"i": [True, 2.0]}) == encode(int64_features={"i": [1, 2]})
    with pytest.raises(ValueError, match="out of range"):
        encode(int64_features={"i": [2**63]})
    with pytest.raises(OverflowError, match="float32"):
        encode(float_features={"f": [1.0, 1e39]})
    assert encode(float_features={"f": (v for v in [0.5, 3.4028235e38])}) == encode(
        float_features={"f": [0.5, 3.4028235e38]}
    )


def test_codec_decoder_reads_wire_order_and_edge_cases():
    data = bytes.fromhex(FROZEN["prefix_keys"])
    assert list(example_codec.decode_example(data)) == ["", "a", "a/b", "ab", "b"]
    assert example_codec.decode_example(b"") == {}
    assert example_codec.decode_example(bytearray(data)) == example_codec.decode_example(data)
    # An entry without a value, and a repeated key (the last one wins, as for a map).
    assert example_codec.decode_example(bytes.fromhex("0a020a00")) == {"": []}
    twice = bytes.fromhex("0a1a" + "0a0b0a016112061a040a020102" + "0a0b0a016112061a040a020304")
    assert example_codec.decode_example(twice) == {"a": [3, 4]}
    not_utf8 = bytes.fromhex(FROZEN["non_ascii_keys"]).replace("ü".encode(), b"\xff\xfe")
    with pytest.raises(ValueError, match="malformed"):
        example_codec.decode_example(not_utf8)
    with pytest.raises(ValueError, match="malformed"):
        example_codec.decode_example(b"\x0b")  # a wire type that does not exist


def test_codec_round_trip_in_python():
    decoded = example_codec.decode_example(example_codec.encode_example(**FEATURES), True)
    for kind, mapping in (("bytes", "bytes_features"), ("int64", "int64_features")):
        for key, values in FEATURES[mapping].items():
            assert decoded[key] == (kind, list(values))
    for key, values in FEATURES["float_features"].items():
        assert decoded[key][0] == "float"
        assert decoded[key][1] == pytest.approx(values, rel=1e-6)


def test_codec_output_does_not_depend_on_key_order():
    reordered = {name: dict(reversed(list(m.items()))) for name, m in FEATURES.items()}
    assert example_codec.encode_example(**FEATURES) == example_codec.encode_example(**reordered)


def test_codec_rejects_a_key_given_twice():
    with pytest.raises(ValueError, match="given twice"):
        example_codec.encode_example({"a": [b"x"]}, {"a": [1]})


def test_codec_decoder_rejects_truncated_input():
    data = example_codec.encode_example(**FEATURES)
    with pytest.raises(ValueError):
        example_codec.decode_example(data[:-5])


def test_codec_matches_tensorflow_serialization_and_parsers():
    tf = pytest.importorskip("tensorflow")
    data = example_codec.encode_example(**FEATURES)
    proto = tf.train.Example.FromString(data)
    feature = proto.features.feature
    assert list(feature[schema.CLASS_TEXT].bytes_list.value) == [b"raccoon", "ü".encode()]
    assert list(feature["negative"].int64_list.value) == [-1, -(2**63), 2**63 - 1, 0]
    assert list(feature[schema.AREA].float_list.value) == pytest.approx([1e-30, 3.4e38, -2.5])
    assert feature["empty/float"].WhichOneof("kind") == "float_list"
    assert feature["empty/int"].WhichOneof("kind") == "int64_list"
    assert feature["empty/bytes"].WhichOneof("kind") == "bytes_list"
    # TensorFlow's deterministic serialization (sorted map keys, packed lists) gives our bytes.
    assert proto.SerializeToString(deterministic=True) == data

    parsed = tf.io.parse_single_example(
        data,
        {
            schema.IMAGE_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
            schema.IMAGE_FORMAT: tf.io.FixedLenFeature([], tf.string),
            schema.CLASS_LABEL: tf.io.VarLenFeature(tf.int64),
            schema.BBOX_XMIN: tf.io.VarLenFeature(tf.float32),
            "empty/float": tf.io.VarLenFeature(tf.float32),
        },
    )
    assert int(parsed[schema.IMAGE_HEIGHT]) == 417
    assert parsed[schema.IMAGE_FORMAT].numpy() == b"jpeg"
    assert parsed[schema.CLASS_LABEL].values.numpy().tolist() == [1, 2, 300000]
    assert parsed[schema.BBOX_XMIN].values.numpy().tolist() == pytest.approx([0.125, 0.3333333])
    assert parsed["empty/float"].values.shape == (0,)


def test_codec_decodes_tensorflow_written_unpacked_values():
    tf = pytest.importorskip("tensorflow")
    proto = tf.train.Example()
    proto.features.feature["f"].float_list.value.extend([1.5, 2.5])
    proto.features.feature["i"].int64_list.value.extend([7, -3])
    proto.features.feature["b"].bytes_list.value.append(b"x")
    decoded = example_codec.decode_example(proto.SerializeToString())
    assert decoded == {"f": [1.5, 2.5], "i": [7, -3], "b": [b"x"]}


def test_codec_frozen_bytes_parse_with_tensorflow():
    tf = pytest.importorskip("tensorflow")
    for name, features in CASES.items():
        proto = tf.train.Example.FromString(bytes.fromhex(FROZEN[name]))
        feature = proto.features.feature
        for mapping, attribute in (
            ("bytes_features", "bytes_list"),
            ("int64_features", "int64_list"),
            ("float_features", "float_list"),
        ):
            for key, values in features.get(mapping, {}).items():
                assert feature[key].WhichOneof("kind") == attribute, (name, key)
                got = list(getattr(feature[key], attribute).value)
                if attribute == "float_list":
                    assert got == pytest.approx(list(values), rel=1e-6, nan_ok=True), (name, key)
                else:
                    assert got == list(values), (name, key)
        assert len(feature) == sum(len(features.get(m, {})) for m in FEATURES)
    proto = tf.train.Example.FromString(_big_example())
    assert list(proto.features.feature["n"].int64_list.value) == list(range(-500, 500))


IMPORT_ORDER = textwrap.dedent(
    """
    import sys
    first, second = sys.argv[1:]
    for name in (first, second):
        __import__(name)
    import tensorflow as tf
    from components.data import example_codec
    data = example_codec.encode_example({"k": [b"v"]}, {"ab": [-1]}, {"a": [0.5]})
    proto = tf.train.Example.FromString(data)
    assert list(proto.features.feature["ab"].int64_list.value) == [-1]
    assert example_codec.decode_example(proto.SerializeToString()) == {
        "a": [0.5], "ab": [-1], "k": [b"v"]
    }
    # TensorFlow's own tf.Example stays in the default pool; ours lives in a private one.
    from google.protobuf import descriptor_pool
    default = descriptor_pool.Default().FindMessageTypeByName("tensorflow.Example")
    assert default is tf.train.Example.DESCRIPTOR
    print("ok")
    """
)


@pytest.mark.parametrize(
    "order",
    [
        ("tensorflow", "components.data.example_codec"),
        ("components.data.example_codec", "tensorflow"),
    ],
)
def test_codec_and_tensorflow_import_in_either_order(order):
    pytest.importorskip("tensorflow")
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ORDER, *order], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_data_library_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "import components.data.readers, components.data.validate, components.data.labels\n"
        "import components.data.example_codec\n"
        "bad = [m for m in ('tensorflow', 'apache_beam', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
