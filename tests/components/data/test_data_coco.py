"""COCO reader (and the format dispatcher): real coco128, refusals, read-time quarantine."""

from __future__ import annotations

import json
import pathlib
import shutil

import broken_corpus as bc  # tests/components/data (pytest pythonpath)
import pytest

from components.data import reasons
from components.data.coco import read_coco
from components.data.labels import build_label_map, to_labels_json
from components.data.readers import read_dataset
from components.errors import UserError


def test_coco_reads_coco128_and_round_trips_every_box(shared_datasets):
    json_path = shared_datasets / "coco128" / "annotations" / "instances_train2017.json"
    source = json.loads(json_path.read_text())
    outcome = bc.validate_all("coco", str(json_path))  # images folder found: ../train2017
    assert outcome.images_read == outcome.images_accepted == 128
    assert outcome.boxes_read == outcome.boxes_accepted == len(source["annotations"]) == 939
    assert outcome.quarantine == []
    assert outcome.label_map.num_classes == 80  # every declared category, labels by id order
    assert outcome.label_map.lookup(1) == (1, "person")
    assert outcome.label_map.lookup(90) == (80, "toothbrush")

    sizes = {str(i["id"]): (i["width"], i["height"]) for i in source["images"]}
    by_image: dict = {}
    for ann in source["annotations"]:
        by_image.setdefault(str(ann["image_id"]), []).append(ann)
    for image_id, features in outcome.examples.items():
        width, height = sizes[image_id]
        assert (features["image/width"], features["image/height"]) == ([width], [height])
        anns = by_image.get(image_id, [])
        expected = [
            (a["bbox"][0] / width, a["bbox"][1] / height,
             (a["bbox"][0] + a["bbox"][2]) / width, (a["bbox"][1] + a["bbox"][3]) / height)
            for a in anns
        ]  # fmt: skip
        got = list(
            zip(
                features["image/object/bbox/xmin"],
                features["image/object/bbox/ymin"],
                features["image/object/bbox/xmax"],
                features["image/object/bbox/ymax"],
                strict=True,
            )
        )
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g == pytest.approx(e, abs=1e-6)
        labels = [outcome.label_map.lookup(a["category_id"])[0] for a in anns]
        assert features["image/object/class/label"] == labels
        assert features["image/object/is_crowd"] == [a["iscrowd"] for a in anns]
        assert features["image/object/area"] == pytest.approx([a["area"] for a in anns], rel=1e-6)
    crowd = sum(a["iscrowd"] for a in source["annotations"])
    assert crowd > 0
    assert sum(sum(f["image/object/is_crowd"]) for f in outcome.examples.values()) == crowd


def test_coco_images_dir_guess_and_explicit(tmp_path):
    corpus = bc.make_coco_case(tmp_path, "negative_image")
    # COCO layout: annotations/instances_<name>.json + <name>/ beside annotations/.
    shutil.move(corpus.images_dir, tmp_path / "mine")
    json_path = tmp_path / "annotations" / "instances_mine.json"
    shutil.move(corpus.input_path, json_path)
    dataset = read_coco(str(json_path))
    assert all(pathlib.Path(i.path).parent == tmp_path / "mine" for i in dataset.images)
    explicit = read_coco(str(json_path), images_dir=str(tmp_path / "elsewhere"))
    assert all(i.path.startswith(str(tmp_path / "elsewhere")) for i in explicit.images)


def test_coco_reader_keeps_crowd_area_claimed_size_and_quarantines_at_read_time(tmp_path):
    corpus = bc.make_coco_corpus(tmp_path)
    dataset = read_coco(corpus.input_path, corpus.images_dir)
    assert [c.name for c in dataset.classes] == ["cat", "dog"]
    assert dataset.images_read == 15 and dataset.boxes_read == 20
    kept = sum(len(i.boxes) for i in dataset.images)
    assert dataset.boxes_read == kept + sum(q.boxes for q in dataset.quarantine)
    assert sorted(q.reason for q in dataset.quarantine) == [
        reasons.MISSING_IMAGE_ID,
        reasons.UNKNOWN_CATEGORY,
    ]
    mismatch = next(i for i in dataset.images if i.image_id == "11")
    assert (mismatch.claimed_width, mismatch.claimed_height) == (100, 80)
    good = next(i for i in dataset.images if i.image_id == "1")
    assert [(b.xmin, b.ymin, b.xmax, b.ymax) for b in good.boxes] == [
        (4, 4, 24, 20),
        (30, 10, 50, 40),
    ]
    assert [b.area for b in good.boxes] == [320, 600]
    assert all(i.split is None and i.annotation_file == corpus.input_path for i in dataset.images)


def test_coco_malformed_bbox_is_quarantined(tmp_path):
    corpus = bc.make_coco_case(tmp_path, "negative_image")
    data = json.loads(pathlib.Path(corpus.input_path).read_text())
    data["annotations"].append({"id": 50, "image_id": 1, "category_id": 1, "bbox": [1, 2, "x"]})
    pathlib.Path(corpus.input_path).write_text(json.dumps(data))
    dataset = read_coco(corpus.input_path, corpus.images_dir)
    assert [(q.kind, q.reason, q.image_id) for q in dataset.quarantine] == [
        ("box", reasons.INVALID_BOX, "1")
    ]
    assert dataset.boxes_read == 3


@pytest.mark.parametrize("case", [c for c in bc.REFUSAL_CASES if c.startswith("coco")])
def test_coco_refusals(tmp_path, case):
    fmt, input_path, images_dir, classes_file, message = bc.make_refusal_case(tmp_path, case)
    with pytest.raises(UserError, match=message) as info:
        read_dataset(fmt, input_path, images_dir, classes_file)
    assert "instances.json" in str(info.value)  # names the file


def test_coco_duplicate_file_names_and_category_ids_are_refused(tmp_path):
    path = tmp_path / "instances.json"
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"}]
    path.write_text(json.dumps({"images": images, "categories": bc.CATEGORIES}))
    with pytest.raises(UserError, match="duplicate image file_name 'a.jpg'"):
        read_coco(str(path))
    cats = [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]
    path.write_text(json.dumps({"images": images[:1], "categories": cats}))
    with pytest.raises(UserError, match="duplicate category id 1"):
        read_coco(str(path))


def test_readers_refuse_unknown_format_classes_with_coco_and_missing_images_dir(tmp_path):
    fmt, input_path, _, _, message = bc.make_refusal_case(tmp_path, "unknown_format")
    with pytest.raises(UserError, match=message):
        read_dataset(fmt, input_path)
    with pytest.raises(UserError, match="--classes"):
        read_dataset("coco", input_path, classes_file="names.txt")
    with pytest.raises(UserError, match="nowhere: images folder not found"):
        read_dataset("voc", input_path, images_dir=str(tmp_path / "nowhere"))


def test_labels_json_and_label_map_contract():
    from components.data.labels import from_labels_json
    from components.data.records import SourceClass

    label_map = build_label_map([SourceClass(7, "b"), SourceClass(3, "a"), SourceClass(5, "c")])
    data = to_labels_json(label_map)
    assert data == {
        "classes": [
            {"id": 1, "name": "a", "source_id": 3},
            {"id": 2, "name": "c", "source_id": 5},
            {"id": 3, "name": "b", "source_id": 7},
        ]
    }
    assert from_labels_json(data) == label_map
    assert label_map.lookup(7) == (3, "b") and label_map.lookup(4) is None
    with pytest.raises(UserError, match="duplicate class name"):
        build_label_map([SourceClass(1, "a"), SourceClass(2, "a")])


_FAKE_FILE_SYSTEMS: list = []  # keeps the class alive: Beam finds file systems by subclass


def _register_fake_object_store():
    """Register a Beam file system ``nasdetfake://<local path>`` that behaves like an object
    store (no directories: listing a prefix returns every object under it, recursively)."""
    import os

    from apache_beam.io.filesystem import CompressionTypes, FileMetadata
    from apache_beam.io.localfilesystem import LocalFileSystem

    prefix = "nasdetfake://"
    if _FAKE_FILE_SYSTEMS:
        return prefix

    class FakeObjectStore(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "nasdetfake"

        def has_dirs(self):
            return False

        def join(self, basepath, *paths):
            return "/".join([basepath.rstrip("/"), *paths])

        def exists(self, path):
            return os.path.isfile(path[len(prefix) :] if path.startswith(prefix) else path)

        def _list(self, dir_or_prefix):
            local = dir_or_prefix[len(prefix) :]
            for root, _, files in os.walk(os.path.dirname(local) or "/"):
                for name in files:
                    path = os.path.join(root, name)
                    if path.startswith(local):
                        yield FileMetadata(prefix + path, os.path.getsize(path), 0.0)

        def open(self, path, mime_type="", compression_type=CompressionTypes.AUTO):
            return super().open(path[len(prefix) :], mime_type, compression_type)

    _FAKE_FILE_SYSTEMS.append(FakeObjectStore)
    return prefix


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_readers_and_validation_work_through_beam_file_system_uris(tmp_path, fmt):
    prefix = _register_fake_object_store()
    make = {"coco": bc.make_coco_corpus, "voc": bc.make_voc_corpus, "yolo": bc.make_yolo_corpus}
    corpus = make[fmt](tmp_path)

    def uri(path):
        return prefix + str(path) if path else None

    local = bc.validate_all(fmt, corpus.input_path, corpus.images_dir, corpus.classes_file)
    remote = bc.validate_all(
        fmt, uri(corpus.input_path), uri(corpus.images_dir), uri(corpus.classes_file)
    )
    assert remote.quarantine == local.quarantine == corpus.expected
    assert remote.examples == local.examples
    assert all(r.source.startswith(prefix) for r in remote.records)
