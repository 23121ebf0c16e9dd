"""tf.Example codec without TensorFlow: wire format, determinism, and TensorFlow's own parsers."""

from __future__ import annotations

import subprocess
import sys

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


def test_data_library_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "import components.data.readers, components.data.validate, components.data.labels\n"
        "import components.data.example_codec\n"
        "bad = [m for m in ('tensorflow', 'apache_beam', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
