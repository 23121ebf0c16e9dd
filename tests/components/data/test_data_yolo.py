"""YOLO reader: same examples as the equivalent COCO input, class files, layouts, refusals."""

from __future__ import annotations

import json
import pathlib

import broken_corpus as bc  # tests/components/data (pytest pythonpath)
import pytest

from components.data.labels import read_class_names
from components.data.readers import read_dataset
from components.data.yolo import read_yolo
from components.errors import UserError

COMPARED = (
    "image/encoded",
    "image/format",
    "image/width",
    "image/height",
    "image/filename",
    "image/object/class/label",
    "image/object/class/text",
    "image/object/is_crowd",
)
BOX_KEYS = tuple(f"image/object/bbox/{k}" for k in ("xmin", "ymin", "xmax", "ymax"))


def _write_clean_coco(folder: pathlib.Path) -> pathlib.Path:
    """A COCO set with sparse category ids, several sizes and formats, and a negative image."""
    images_dir = folder / "images"
    images_dir.mkdir(parents=True)
    specs = [
        (1, "a.jpg", "jpeg", 64, 48),
        (2, "b.png", "png", 50, 70),
        (3, "c.jpg", "jpeg", 33, 21),
    ]
    images = []
    for image_id, name, kind, width, height in specs:
        (images_dir / name).write_bytes(bc.image_bytes(kind, width, height, seed=image_id))
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
    boxes = [
        (1, 3, [1.5, 2.25, 20.1, 15.7]),
        (1, 11, [30, 10, 33.9, 37.3]),
        (2, 7, [0.3, 0.7, 49.4, 69.1]),
        (2, 3, [10.123, 20.456, 5.789, 9.012]),
        (2, 11, [12, 13, 7, 8]),
    ]
    annotations = [
        {"id": i + 1, "image_id": img, "category_id": cat, "bbox": bbox, "area": bbox[2] * bbox[3]}
        for i, (img, cat, bbox) in enumerate(boxes)
    ]
    categories = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 11, "name": "owl"}]
    path = folder / "instances.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def _assert_same_examples(coco_outcome, yolo_outcome, file_stem_of, keys=COMPARED):
    assert len(coco_outcome.examples) == len(yolo_outcome.examples)
    assert coco_outcome.label_map.names == yolo_outcome.label_map.names
    for image_id, coco in coco_outcome.examples.items():
        yolo = yolo_outcome.examples[file_stem_of[image_id]]
        for key in keys:
            assert yolo[key] == coco[key], key
        for key in BOX_KEYS:
            assert yolo[key] == pytest.approx(coco[key], abs=1e-6), key


def test_yolo_input_gives_the_same_examples_as_the_equivalent_coco_input(tmp_path):
    json_path = _write_clean_coco(tmp_path / "coco")
    images_dir = str(tmp_path / "coco" / "images")
    labels_dir, names = bc.coco_to_yolo(str(json_path), images_dir, str(tmp_path / "yolo"))
    coco = bc.validate_all("coco", str(json_path), images_dir)
    yolo = bc.validate_all("yolo", labels_dir, images_dir, names)
    assert coco.quarantine == yolo.quarantine == []
    assert (
        (coco.boxes_read, coco.boxes_accepted) == (yolo.boxes_read, yolo.boxes_accepted) == (5, 5)
    )
    _assert_same_examples(coco, yolo, {"1": "a", "2": "b", "3": "c"})
    assert yolo.examples["c"]["image/object/class/label"] == []


def test_yolo_coco128_converted_gives_the_same_examples(shared_datasets, tmp_path):
    json_path = shared_datasets / "coco128" / "annotations" / "instances_train2017.json"
    images_dir = str(shared_datasets / "coco128" / "train2017")
    labels_dir, names = bc.coco_to_yolo(str(json_path), images_dir, str(tmp_path / "yolo"))
    coco = bc.validate_all("coco", str(json_path), images_dir)
    yolo = bc.validate_all("yolo", labels_dir, images_dir, names)
    stems = {str(int(s)): s for s in (p.stem for p in pathlib.Path(labels_dir).iterdir())}
    # YOLO has no crowd flag: compare everything else.
    keys = tuple(k for k in COMPARED if k != "image/object/is_crowd")
    _assert_same_examples(coco, yolo, stems, keys)
    assert yolo.boxes_accepted == coco.boxes_accepted == 939


def test_yolo_broken_corpus_reasons_and_counts(tmp_path):
    corpus = bc.make_yolo_corpus(tmp_path)
    outcome = bc.validate_all(corpus.fmt, corpus.input_path, corpus.images_dir, corpus.classes_file)
    assert outcome.quarantine == corpus.expected
    assert (outcome.images_read, outcome.images_accepted) == (6, 4)
    assert (outcome.boxes_read, outcome.boxes_accepted) == (
        corpus.boxes_read,
        corpus.boxes_accepted,
    )
    assert outcome.boxes_read == outcome.boxes_accepted + sum(q.boxes for q in outcome.records)
    # Ultralytics layout: labels/train -> images/train; unlabelled image kept as a negative.
    assert outcome.examples["unlabelled"]["image/object/class/label"] == []
    assert outcome.examples["unlabelled"]["image/format"] == [b"png"]
    good = outcome.examples["good"]
    assert good["image/object/bbox/xmin"] == pytest.approx([0.15, 0.45], abs=1e-6)
    assert good["image/object/bbox/ymax"] == pytest.approx([0.35, 0.7], abs=1e-6)
    assert good["image/object/class/text"] == [b"cat", b"dog"]


def test_yolo_class_names_from_text_yaml_list_and_mapping(tmp_path):
    text = tmp_path / "names.txt"
    text.write_text("cat\n\n dog \n")
    as_list = tmp_path / "list.yaml"
    as_list.write_text("names: [cat, dog]\n")
    as_map = tmp_path / "map.yml"
    as_map.write_text("names:\n  1: dog\n  0: cat\n")
    for path in (text, as_list, as_map):
        assert read_class_names(str(path)) == ["cat", "dog"]
    gap = tmp_path / "gap.yaml"
    gap.write_text("names: {0: cat, 2: dog}\n")
    with pytest.raises(UserError, match="without gaps"):
        read_class_names(str(gap))
    with pytest.raises(UserError, match="class file not found"):
        read_class_names(str(tmp_path / "absent.txt"))
    dup = tmp_path / "dup.txt"
    dup.write_text("cat\ncat\n")
    with pytest.raises(UserError, match="duplicate class names"):
        read_class_names(str(dup))


def test_yolo_classes_txt_beside_labels_and_segment_lines(tmp_path):
    (tmp_path / "a.jpg").write_bytes(bc.image_bytes("jpeg"))
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    (tmp_path / "a.txt").write_text("1 0.1 0.2 0.5 0.25 0.3 0.75\n")
    dataset = read_yolo(str(tmp_path))
    assert [c.name for c in dataset.classes] == ["cat", "dog"]
    assert [i.image_id for i in dataset.images] == ["a"]
    [box] = dataset.images[0].boxes
    assert (box.source_class_id, box.xmin, box.ymin, box.xmax, box.ymax) == pytest.approx(
        (1, 0.1 * 64, 0.2 * 48, 0.5 * 64, 0.75 * 48)
    )


def test_yolo_data_yaml_with_distinct_train_and_val_gives_splits(tmp_path):
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
    (tmp_path / "images" / "train" / "t.jpg").write_bytes(bc.image_bytes("jpeg"))
    (tmp_path / "labels" / "train" / "t.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "images" / "val" / "v.jpg").write_bytes(bc.image_bytes("jpeg"))
    (tmp_path / "labels" / "val" / "v.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames: [cat]\n")
    train = read_yolo(str(tmp_path / "labels" / "train"), classes_file=str(data))
    val = read_yolo(str(tmp_path / "labels" / "val"), classes_file=str(data))
    assert [i.split for i in train.images] == ["train"]
    assert [i.split for i in val.images] == ["val"]


def test_yolo_duplicate_image_stems_are_refused(tmp_path):
    (tmp_path / "a.jpg").write_bytes(bc.image_bytes("jpeg"))
    (tmp_path / "a.png").write_bytes(bc.image_bytes("png"))
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "classes.txt").write_text("cat\n")
    with pytest.raises(UserError, match="duplicate file stems"):
        read_yolo(str(tmp_path))


@pytest.mark.parametrize("case", [c for c in bc.REFUSAL_CASES if c.startswith("yolo")])
def test_yolo_refusals(tmp_path, case):
    fmt, input_path, images_dir, classes_file, message = bc.make_refusal_case(tmp_path, case)
    with pytest.raises(UserError, match=message):
        read_dataset(fmt, input_path, images_dir, classes_file)


def test_yolo_normalised_by_real_size_matches_coco_with_a_wrong_claimed_size(tmp_path):
    corpus = bc.make_coco_case(tmp_path / "coco", "size_mismatch")  # JSON claims 100x80
    labels_dir, names = bc.coco_to_yolo(corpus.input_path, corpus.images_dir, str(tmp_path / "y"))
    coco = bc.validate_all("coco", corpus.input_path, corpus.images_dir)
    yolo = bc.validate_all("yolo", labels_dir, corpus.images_dir, names)
    _assert_same_examples(coco, yolo, {"1": "good", "11": "size_mismatch"})
    assert coco.validated["11"].size_mismatch and not yolo.validated["size_mismatch"].size_mismatch
