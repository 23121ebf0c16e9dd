"""Per-image validation: one test per bad-input case, counts reconcile, example contents."""

from __future__ import annotations

import io
import pathlib

import broken_corpus as bc  # tests/components/data (pytest pythonpath)
import numpy as np
import pytest
from PIL import Image

from components.data import reasons
from components.data.example_codec import decode_example
from components.data.labels import build_label_map
from components.data.records import SourceBox, SourceClass, SourceImage
from components.data.validate import validate_image

LABELS = build_label_map([SourceClass(1, "cat"), SourceClass(2, "dog")])


def _ingest_case(tmp_path, case):
    corpus = bc.make_coco_case(tmp_path, case)
    outcome = bc.validate_all(corpus.fmt, corpus.input_path, corpus.images_dir)
    return corpus, outcome


def _assert_reconciled(corpus, outcome):
    """Outcome equals the corpus' expectation, and read = accepted + quarantined."""
    assert outcome.quarantine == corpus.expected
    assert outcome.images_read == corpus.images_read
    assert outcome.images_accepted == corpus.images_accepted
    assert outcome.boxes_read == corpus.boxes_read
    assert outcome.boxes_accepted == corpus.boxes_accepted
    image_q = sum(1 for q in outcome.records if q.kind == "image")
    assert outcome.images_read == outcome.images_accepted + image_q
    assert outcome.boxes_read == outcome.boxes_accepted + sum(q.boxes for q in outcome.records)
    for result in outcome.validated.values():
        quarantined = sum(q.boxes for q in result.quarantine)
        assert result.boxes_read == result.boxes_accepted + quarantined


@pytest.mark.parametrize("case", ["truncated_jpeg", "not_an_image", "missing_image"])
def test_validate_unusable_image_is_quarantined_with_all_its_boxes(tmp_path, case):
    corpus, outcome = _ingest_case(tmp_path, case)
    _assert_reconciled(corpus, outcome)
    [(kind, reason, image_id, boxes)] = corpus.expected
    record = next(r for r in outcome.records if r.image_id == image_id)
    assert (record.kind, record.reason) == (kind, reason)
    assert pathlib.Path(record.source).parent == pathlib.Path(corpus.images_dir)
    assert "instances.json" in record.detail  # names the annotation file too
    result = outcome.validated[image_id]
    assert result.example is None and result.width == 0 and result.boxes_read == boxes


@pytest.mark.parametrize(
    "case, reason",
    [
        ("zero_width_box", reasons.DEGENERATE_BOX),
        ("negative_height_box", reasons.DEGENERATE_BOX),
        ("box_far_outside", reasons.BOX_OUTSIDE_IMAGE),
        ("unknown_category", reasons.UNKNOWN_CATEGORY),
        ("missing_image_id", reasons.MISSING_IMAGE_ID),
    ],
)
def test_validate_bad_box_is_quarantined_and_image_kept(tmp_path, case, reason):
    corpus, outcome = _ingest_case(tmp_path, case)
    _assert_reconciled(corpus, outcome)
    box_records = [r for r in outcome.records if r.kind == "box"]
    assert box_records and all(r.reason == reason and r.boxes == 1 for r in box_records)
    assert all(r.source == corpus.input_path for r in box_records)
    assert outcome.images_accepted == outcome.images_read


def test_validate_box_half_pixel_outside_is_clipped(tmp_path):
    corpus, outcome = _ingest_case(tmp_path, "box_half_px_outside")
    _assert_reconciled(corpus, outcome)
    features = outcome.examples["8"]
    # [-0.5, 2, 20, 20] -> x clipped to 0; [50, 30, 14.5, 18.5] -> xmax 64.5, ymax 48.5 clipped.
    assert features["image/object/bbox/xmin"] == pytest.approx([0.0, 50 / 64], abs=1e-6)
    assert features["image/object/bbox/ymin"] == pytest.approx([2 / 48, 30 / 48], abs=1e-6)
    assert features["image/object/bbox/xmax"] == pytest.approx([19.5 / 64, 1.0], abs=1e-6)
    assert features["image/object/bbox/ymax"] == pytest.approx([22 / 48, 1.0], abs=1e-6)
    assert outcome.validated["8"].clipped_boxes == 2
    assert any("clipped" in n for n in outcome.validated["8"].notes)


def test_validate_png_named_jpg_is_accepted_as_png(tmp_path):
    corpus, outcome = _ingest_case(tmp_path, "png_named_jpg")
    _assert_reconciled(corpus, outcome)
    features = outcome.examples["10"]
    assert features["image/format"] == [b"png"]
    assert features["image/encoded"][0][:8] == b"\x89PNG\r\n\x1a\n"
    assert features["image/filename"] == [b"really_png.jpg"]
    original = (pathlib.Path(corpus.images_dir) / "really_png.jpg").read_bytes()
    assert features["image/encoded"][0] == original  # kept, not re-encoded
    assert "PNG content in a .jpg file (kept as png)" in outcome.validated["10"].notes


def test_validate_claimed_size_mismatch_uses_decoded_size_and_is_recorded(tmp_path):
    corpus, outcome = _ingest_case(tmp_path, "size_mismatch")
    _assert_reconciled(corpus, outcome)
    result = outcome.validated["11"]
    assert result.size_mismatch
    assert any("annotation claims 100x80, decoded 64x48" in n for n in result.notes)
    features = outcome.examples["11"]
    assert (features["image/width"], features["image/height"]) == ([64], [48])
    assert features["image/object/bbox/xmax"] == pytest.approx([15 / 64], abs=1e-6)


def test_validate_image_without_boxes_is_kept_as_negative(tmp_path):
    corpus, outcome = _ingest_case(tmp_path, "negative_image")
    _assert_reconciled(corpus, outcome)
    features = outcome.examples["12"]
    assert features["image/object/bbox/xmin"] == []
    assert features["image/object/class/label"] == []


@pytest.mark.parametrize("case, image_id", [("bmp_image", "13"), ("cmyk_jpeg", "14")])
def test_validate_other_formats_are_reencoded_as_png(tmp_path, case, image_id):
    corpus, outcome = _ingest_case(tmp_path, case)
    _assert_reconciled(corpus, outcome)
    result = outcome.validated[image_id]
    assert result.reencoded and result.image_format == "png"
    encoded = outcome.examples[image_id]["image/encoded"][0]
    with Image.open(io.BytesIO(encoded)) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "RGB", (64, 48))


def test_validate_grayscale_jpeg_is_kept(tmp_path):
    corpus, outcome = _ingest_case(tmp_path, "grayscale_jpeg")
    _assert_reconciled(corpus, outcome)
    result = outcome.validated["15"]
    assert result.image_format == "jpeg" and not result.reencoded


def test_validate_whole_coco_corpus_reconciles(tmp_path):
    corpus = bc.make_coco_corpus(tmp_path)
    outcome = bc.validate_all(corpus.fmt, corpus.input_path, corpus.images_dir)
    _assert_reconciled(corpus, outcome)
    for image_id, fmt in corpus.formats.items():
        assert outcome.validated[image_id].image_format == fmt
    for image_id, note in corpus.notes.items():
        assert any(note in n for n in outcome.validated[image_id].notes)


def test_validate_example_holds_every_schema_key_and_source_values(tmp_path):
    corpus = bc.make_coco_case(tmp_path, "negative_image")
    outcome = bc.validate_all(corpus.fmt, corpus.input_path, corpus.images_dir)
    features = outcome.examples["1"]
    from components.data import schema

    assert set(features) == set(schema.BYTES_KEYS + schema.INT64_KEYS + schema.FLOAT_KEYS)
    assert features["image/source_id"] == [b"1"]
    assert features["image/format"] == [b"jpeg"]
    assert features["image/object/class/label"] == [1, 2]
    assert features["image/object/class/text"] == [b"cat", b"dog"]
    assert features["image/object/is_crowd"] == [0, 0]
    assert features["image/object/area"] == pytest.approx([320.0, 600.0])
    # good.jpg boxes: [4, 4, 20, 16] and [30, 10, 20, 30] in a 64x48 image.
    assert features["image/object/bbox/xmin"] == pytest.approx([4 / 64, 30 / 64], abs=1e-6)
    assert features["image/object/bbox/ymax"] == pytest.approx([20 / 48, 40 / 48], abs=1e-6)
    result = outcome.validated["1"]
    assert result.class_counts == {"cat": 1, "dog": 1}
    assert result.box_sizes == [(20.0, 16.0), (20.0, 30.0)]


def _image(boxes, path="mem.jpg", claimed=None):
    return SourceImage(
        image_id="x",
        file_name=path,
        path=path,
        boxes=tuple(boxes),
        claimed_width=claimed[0] if claimed else None,
        claimed_height=claimed[1] if claimed else None,
        annotation_file="ann.json",
    )


def test_validate_area_defaults_to_clipped_box_area_and_crowd_is_kept():
    data = bc.image_bytes("jpeg")
    boxes = [
        SourceBox(1, 60.0, 40.0, 64.8, 48.6, is_crowd=True),
        SourceBox(2, 0, 0, 10, 10, area=7.5),
    ]
    result = validate_image(_image(boxes), LABELS, lambda _: data)
    features = decode_example(result.example)
    assert features["image/object/area"] == pytest.approx([4 * 8, 7.5])
    assert features["image/object/is_crowd"] == [1, 0]


def test_validate_overshoot_up_to_one_percent_of_the_side_is_clipped_beyond_is_quarantined():
    data = bc.image_bytes("jpeg", width=640, height=480)
    boxes = [
        SourceBox(1, 600.0, 10.0, 646.0, 40.0),  # 6 px past the right edge: < 1 % of 640
        SourceBox(1, 10.0, -4.5, 50.0, 40.0),  # 4.5 px above: < 1 % of 480
        SourceBox(2, 600.0, 10.0, 647.0, 40.0),  # 7 px: > 1 % of 640
        SourceBox(2, 10.0, 400.0, 50.0, 485.0),  # 5 px below: > 1 % of 480
    ]
    result = validate_image(_image(boxes), LABELS, lambda _: data)
    assert result.boxes_accepted == 2 and result.clipped_boxes == 2
    assert [q.reason for q in result.quarantine] == [reasons.BOX_OUTSIDE_IMAGE] * 2
    features = decode_example(result.example)
    assert features["image/object/bbox/xmax"] == pytest.approx([1.0, 50 / 640], abs=1e-6)
    assert features["image/object/bbox/ymin"] == pytest.approx([10 / 480, 0.0], abs=1e-6)


def test_validate_non_finite_coordinates_are_invalid():
    data = bc.image_bytes("jpeg")
    boxes = [SourceBox(1, float("nan"), 0, 10, 10), SourceBox(1, 0, 0, float("inf"), 10)]
    result = validate_image(_image(boxes), LABELS, lambda _: data)
    assert [q.reason for q in result.quarantine] == [reasons.INVALID_BOX] * 2
    assert result.boxes_accepted == 0 and result.example is not None


def test_validate_read_errors_from_other_file_systems():
    def not_found(path):
        raise RuntimeError(f"Not found: gs://bucket/{path}")

    def denied(path):
        raise PermissionError(f"denied: {path}")

    box = [SourceBox(1, 0, 0, 10, 10)]
    missing = validate_image(_image(box), LABELS, not_found)
    assert [q.reason for q in missing.quarantine] == [reasons.MISSING_IMAGE]
    unreadable = validate_image(_image(box), LABELS, denied)
    assert [q.reason for q in unreadable.quarantine] == [reasons.UNREADABLE_FILE]
    assert unreadable.quarantine[0].boxes == 1


def test_validate_exif_orientation_is_recorded_not_applied():
    img = Image.new("RGB", (40, 20), (10, 200, 30))
    exif = img.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif.tobytes())
    result = validate_image(
        _image([SourceBox(1, 0, 0, 40, 20)]), LABELS, lambda _: buffer.getvalue()
    )
    assert (result.width, result.height) == (40, 20)
    assert any("EXIF orientation 6" in n for n in result.notes)
    assert decode_example(result.example)["image/encoded"] == [buffer.getvalue()]


def test_validate_is_deterministic():
    data = bc.image_bytes("bmp")
    image = _image([SourceBox(1, 1, 2, 30, 40)])
    first = validate_image(image, LABELS, lambda _: data)
    second = validate_image(image, LABELS, lambda _: data)
    assert first.example == second.example


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "I;16"])
def test_validate_keeps_every_png_mode_as_is(mode):
    if mode == "I;16":
        img = Image.fromarray(np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 100)
    else:
        img = Image.new("RGB", (30, 20), (200, 40, 90)).convert(mode)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    result = validate_image(_image([], path="x.png"), LABELS, lambda _: buffer.getvalue())
    assert (result.image_format, result.reencoded, result.notes) == ("png", False, [])
    assert decode_example(result.example)["image/encoded"] == [buffer.getvalue()]


def test_validate_examples_decode_in_tensorflow_to_rgb_of_the_decoded_size(tmp_path):
    tf = pytest.importorskip("tensorflow")
    corpus = bc.make_coco_corpus(tmp_path)
    outcome = bc.validate_all(corpus.fmt, corpus.input_path, corpus.images_dir)
    assert len(outcome.examples) == corpus.images_accepted
    for image_id, features in outcome.examples.items():
        image = tf.io.decode_image(
            features["image/encoded"][0], channels=3, expand_animations=False
        )
        height, width = features["image/height"][0], features["image/width"][0]
        assert tuple(image.shape) == (height, width, 3), image_id
        with Image.open(io.BytesIO(features["image/encoded"][0])) as pil:
            reference = np.asarray(pil.convert("RGB"), dtype=np.int32)
        # Same pixels as Pillow (JPEG decoders may differ by a few levels).
        assert np.abs(image.numpy().astype(np.int32) - reference).mean() < 2.0, image_id
