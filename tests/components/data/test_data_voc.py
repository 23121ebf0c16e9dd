"""Pascal VOC reader: real raccoon, the bundled sample, broken corpus, layouts and refusals."""

from __future__ import annotations

import pathlib
import shutil
import xml.etree.ElementTree as ET

import broken_corpus as bc  # tests/components/data (pytest pythonpath)
import pytest

from components.data import reasons
from components.data.readers import read_dataset
from components.data.voc import read_voc
from components.errors import UserError


def _assert_boxes_match_xml(annotations: pathlib.Path, outcome) -> int:
    """Every example box equals its XML box normalised by the decoded size; return box count."""
    count = 0
    for image_id, features in outcome.examples.items():
        root = ET.parse(annotations / f"{image_id}.xml").getroot()
        width, height = features["image/width"][0], features["image/height"][0]
        expected = [
            tuple(float(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
            for o in root.findall("object")
        ]
        got = zip(
            features["image/object/bbox/xmin"],
            features["image/object/bbox/ymin"],
            features["image/object/bbox/xmax"],
            features["image/object/bbox/ymax"],
            strict=True,
        )
        for g, (x0, y0, x1, y1) in zip(got, expected, strict=True):
            assert g == pytest.approx((x0 / width, y0 / height, x1 / width, y1 / height), abs=1e-6)
            count += 1
        names = [o.findtext("name").encode() for o in root.findall("object")]
        assert features["image/object/class/text"] == names
    return count


def test_voc_reads_raccoon_and_round_trips_every_box(shared_datasets):
    annotations = shared_datasets / "raccoon" / "annotations"
    outcome = bc.validate_all("voc", str(annotations))  # images found in ../images
    assert outcome.images_read == outcome.images_accepted == 200
    assert outcome.boxes_read == outcome.boxes_accepted == 217
    assert outcome.quarantine == []
    assert outcome.label_map.names == ["raccoon"]
    assert _assert_boxes_match_xml(annotations, outcome) == 217


def test_voc_reads_the_bundled_sample(sample_dir):
    outcome = bc.validate_all("voc", str(sample_dir / "annotations"))
    xml_count = len(list((sample_dir / "annotations").glob("*.xml")))
    assert outcome.images_read == outcome.images_accepted == xml_count
    assert outcome.quarantine == []
    assert _assert_boxes_match_xml(sample_dir / "annotations", outcome) == outcome.boxes_read
    for result in outcome.validated.values():
        assert result.image_format == "jpeg" and not result.size_mismatch


def test_voc_broken_corpus_reasons_and_counts(tmp_path):
    corpus = bc.make_voc_corpus(tmp_path)
    outcome = bc.validate_all(corpus.fmt, corpus.input_path, corpus.images_dir, corpus.classes_file)
    assert outcome.quarantine == corpus.expected
    assert (outcome.images_read, outcome.images_accepted) == (8, 7)
    assert (outcome.boxes_read, outcome.boxes_accepted) == (
        corpus.boxes_read,
        corpus.boxes_accepted,
    )
    assert outcome.boxes_read == outcome.boxes_accepted + sum(q.boxes for q in outcome.records)
    for image_id, fmt in corpus.formats.items():
        assert outcome.validated[image_id].image_format == fmt
    assert outcome.examples["empty"]["image/object/class/label"] == []
    assert outcome.label_map.names == ["cat", "dog"]  # --classes order


def test_voc_wrong_filename_falls_back_to_the_xml_stem(tmp_path):
    corpus = bc.make_voc_corpus(tmp_path)
    dataset = read_voc(corpus.input_path, classes_file=corpus.classes_file)
    image = next(i for i in dataset.images if i.image_id == "wrong_filename")
    assert image.file_name == "wrong_filename.jpg"
    assert pathlib.Path(image.path) == tmp_path / "images" / "wrong_filename.jpg"


def test_voc_without_classes_uses_sorted_names(tmp_path):
    corpus = bc.make_voc_corpus(tmp_path, with_classes=False)
    dataset = read_dataset("voc", corpus.input_path)
    assert [(c.source_id, c.name) for c in dataset.classes] == [(1, "bird"), (2, "cat"), (3, "dog")]
    assert [q.reason for q in dataset.quarantine] == [reasons.INVALID_BOX]


def test_voc_devkit_layout_with_imagesets_splits(tmp_path):
    corpus = bc.make_voc_corpus(tmp_path / "src")
    root = tmp_path / "VOC"
    shutil.copytree(corpus.input_path, root / "Annotations")
    shutil.copytree(tmp_path / "src" / "images", root / "JPEGImages")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("good\nbad_coords\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("empty\n")
    dataset = read_voc(str(root), classes_file=corpus.classes_file)
    splits = {i.image_id: i.split for i in dataset.images}
    assert splits["good"] == "train" and splits["empty"] == "val" and splits["missing"] is None
    assert pathlib.Path(dataset.images[0].path).parent == root / "JPEGImages"


def test_voc_images_beside_xml_and_explicit_images_dir(tmp_path):
    corpus = bc.make_voc_corpus(tmp_path)
    beside = tmp_path / "beside"
    shutil.copytree(corpus.input_path, beside)
    for image in (tmp_path / "images").iterdir():
        shutil.copy(image, beside / image.name)
    dataset = read_voc(str(beside), classes_file=corpus.classes_file)
    good = next(i for i in dataset.images if i.image_id == "good")
    assert pathlib.Path(good.path) == beside / "good.jpg"
    explicit = read_voc(corpus.input_path, str(beside), corpus.classes_file)
    good = next(i for i in explicit.images if i.image_id == "good")
    assert pathlib.Path(good.path) == beside / "good.jpg"


def test_voc_two_xml_files_for_one_image_are_refused(tmp_path):
    corpus = bc.make_voc_corpus(tmp_path)
    xml = (pathlib.Path(corpus.input_path) / "good.xml").read_text()
    (pathlib.Path(corpus.input_path) / "copy_of_good.xml").write_text(xml)
    with pytest.raises(UserError, match="duplicate image"):
        read_voc(corpus.input_path, classes_file=corpus.classes_file)


@pytest.mark.parametrize("case", [c for c in bc.REFUSAL_CASES if c.startswith("voc")])
def test_voc_refusals(tmp_path, case):
    fmt, input_path, images_dir, classes_file, message = bc.make_refusal_case(tmp_path, case)
    with pytest.raises(UserError, match=message):
        read_dataset(fmt, input_path, images_dir, classes_file)
