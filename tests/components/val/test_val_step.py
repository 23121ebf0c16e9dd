"""``nasdet val`` on raw labels gives evaluate's numbers on the same images; classes by name."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

pytest.importorskip("tensorflow")

from components.val import cli  # noqa: E402
from components.val.step import run as val  # noqa: E402

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "components" / "data" / "sample" / "raccoon"
RACCOON = {"classes": [{"id": 1, "name": "raccoon", "source_id": 1}]}


@pytest.fixture(scope="module")
def raccoon_model(tmp_path_factory) -> str:
    """A Model artifact: tiny, one class named raccoon, random weights, 20 detections."""
    import keras

    from components.artifacts.model import CONFIG_FILE
    from components.detector import export
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    keras.utils.set_random_seed(5)
    config = get_preset("tiny").with_overrides({"num_classes": 1})
    out = tmp_path_factory.mktemp("val_model")
    export.export_saved_model(build_detector(config), config, RACCOON, str(out))
    config.save(out / CONFIG_FILE)
    return str(out)


@pytest.fixture(scope="module")
def evaluated_test_split(raccoon_model, tmp_path_factory) -> tuple[dict, list[str]]:
    """Evaluate's metrics of the model on the ingested sample's test split, and its image ids."""
    from components.data import example_reader
    from components.evaluate import run as evaluate
    from components.ingest import run as ingest

    tmp = tmp_path_factory.mktemp("val_evaluated")
    examples = tmp / "examples"
    ingest(str(SAMPLE / "annotations"), "voc", str(examples))
    evaluated = evaluate(raccoon_model, str(examples), str(tmp / "eval"))["metrics"]
    test_ids = [
        e["source_id"].decode()
        for e in example_reader.read_split(str(examples), "test").as_numpy_iterator()
    ]
    return evaluated, test_ids


def test_val_on_raw_voc_labels_equals_evaluate_on_the_ingested_test_split(
    raccoon_model, evaluated_test_split, tmp_path
):
    evaluated, test_ids = evaluated_test_split
    labels = tmp_path / "voc"
    labels.mkdir()
    for source_id in test_ids:
        shutil.copy(SAMPLE / "annotations" / f"{source_id}.xml", labels / f"{source_id}.xml")
    summary = val(str(labels), raccoon_model, images_dir=str(SAMPLE / "images"))
    assert summary["images"] == len(test_ids) == evaluated["num_images"]
    assert evaluated["AR100"] > 0  # the random model finds something: the numbers mean something
    for name in ("AP", "AP50", "AP75", "AR1", "AR10", "AR100"):
        assert summary["metrics"][name] == pytest.approx(evaluated[name], abs=1e-9), name
    assert summary["metrics"]["operating_point"] == evaluated["operating_point"]
    low, high = summary["uncertainty"]["AP"]
    assert low <= summary["metrics"]["AP"] <= high


def _voc_as_coco(stems: list[str], out: pathlib.Path) -> None:
    """The VOC labels of ``stems`` as one COCO instances JSON (same pixel boxes)."""
    import xml.etree.ElementTree as ET

    data = {"images": [], "annotations": [], "categories": [{"id": 7, "name": "raccoon"}]}
    for image_id, stem in enumerate(stems, start=1):
        root = ET.parse(SAMPLE / "annotations" / f"{stem}.xml").getroot()
        size = root.find("size")
        data["images"].append(
            {
                "id": image_id,
                "file_name": f"{stem}.jpg",
                "width": int(size.findtext("width")),
                "height": int(size.findtext("height")),
            }
        )
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            x0, y0, x1, y1 = (float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            data["annotations"].append(
                {
                    "id": len(data["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": 7,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    out.write_text(json.dumps(data))


def test_val_on_raw_coco_labels_equals_evaluate_on_the_ingested_test_split(
    raccoon_model, evaluated_test_split, tmp_path
):
    evaluated, test_ids = evaluated_test_split
    coco = tmp_path / "instances_test.json"
    _voc_as_coco(test_ids, coco)
    summary = val(str(coco), raccoon_model, images_dir=str(SAMPLE / "images"))
    assert summary["images"] == len(test_ids) == evaluated["num_images"]
    assert evaluated["AR100"] > 0
    for name in ("AP", "AP50", "AP75", "AR1", "AR10", "AR100"):
        assert summary["metrics"][name] == pytest.approx(evaluated[name], abs=1e-9), name


def test_classes_are_matched_by_name_and_unknown_ones_counted(raccoon_model, tmp_path, capsys):
    from PIL import Image

    names = ["raccoon-1.jpg", "raccoon-10.jpg"]
    images = []
    for i, name in enumerate(names, start=1):
        width, height = Image.open(SAMPLE / "images" / name).size
        images.append({"id": i, "file_name": name, "width": width, "height": height})
    annotations = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 9,
            "bbox": [10, 10, 100, 80],
            "area": 8000,
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 2,
            "category_id": 4,
            "bbox": [5, 5, 50, 50],
            "area": 2500,
            "iscrowd": 0,
        },
    ]
    coco = tmp_path / "instances.json"
    categories = [{"id": 4, "name": "squirrel"}, {"id": 9, "name": "raccoon"}]
    coco.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    argv = ["--data", str(coco), "--images", str(SAMPLE / "images"), "--model", raccoon_model]
    assert cli.main([*argv, "--output", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["images"] == 2 and summary["boxes"] == 1  # the squirrel is not scored
    assert summary["unknown_classes"] == ["squirrel"]
    assert summary["quarantined"] == {"unknown category id": 1}
    assert captured.err.startswith("AP ") and "(2 images, 1 boxes)" in captured.err
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["per_class"]["raccoon"]


def test_no_class_in_common_is_a_one_line_error(raccoon_model, tmp_path, capsys):
    coco = tmp_path / "instances.json"
    image = {"id": 1, "file_name": "raccoon-1.jpg", "width": 650, "height": 417}
    coco.write_text(
        json.dumps({"images": [image], "annotations": [], "categories": [{"id": 1, "name": "cat"}]})
    )
    assert cli.main(["--data", str(coco), "--model", raccoon_model]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "none of the data's classes (cat) is one of the model's (raccoon)" in err[0]
    )
