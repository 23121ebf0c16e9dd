"""``nasdet predict`` writes, box by box, what the model's serving_default signature answers."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from PIL import Image

from components.evaluate.predict import load_serving_fn
from components.predict import cli
from components.predict.step import run


@functools.cache
def _serving_fn(model_dir: str):
    return load_serving_fn(f"{model_dir}/saved_model", signature="serving_default")


def _served(model_dir: str, path) -> dict:
    return _serving_fn(model_dir)(np.asarray(Image.open(path).convert("RGB"))[None])


@pytest.fixture(scope="module")
def predicted(exported_model, sample_images, tmp_path_factory):
    out = tmp_path_factory.mktemp("predicted")
    summary = run(str(sample_images), exported_model, str(out), conf=0.0, save_txt=True)
    return summary, out


def test_every_box_is_the_signatures_answer_in_pixels(predicted, exported_model, sample_images):
    summary, out = predicted
    assert summary["images"] == 3 and summary["skipped"] == []
    images = json.loads((out / "images.json").read_text())
    for image_id, entry in images.items():
        record = json.loads((out / "labels" / f"{entry['name']}.json").read_text())
        assert record["image_id"] == int(image_id)
        expected = _served(exported_model, entry["image"])
        n = int(expected["num_detections"][0])
        assert n == len(record["detections"]) == 20
        order = np.argsort(-expected["detection_scores"][0][:n], kind="stable")
        width, height = record["width"], record["height"]
        assert Image.open(entry["image"]).size == (width, height)
        for det, i in zip(record["detections"], order, strict=True):
            ymin, xmin, ymax, xmax = expected["detection_boxes"][0][i]
            np.testing.assert_allclose(
                det["box_xyxy"],
                [xmin * width, ymin * height, xmax * width, ymax * height],
                atol=2e-3,
            )
            assert det["score"] == pytest.approx(
                float(expected["detection_scores"][0][i]), abs=1e-6
            )
            assert det["class_id"] == int(expected["detection_classes"][0][i])
            assert det["class_name"] == {1: "cat", 2: "dog"}[det["class_id"]]


def test_coco_results_yolo_labels_and_pictures_agree_with_the_json(predicted):
    summary, out = predicted
    results = json.loads((out / "predictions.json").read_text())
    assert len(results) == summary["detections"] == 60
    images = json.loads((out / "images.json").read_text())
    for image_id, entry in images.items():
        record = json.loads((out / "labels" / f"{entry['name']}.json").read_text())
        mine = [r for r in results if r["image_id"] == int(image_id)]
        for det, coco in zip(record["detections"], mine, strict=True):
            x1, y1, x2, y2 = det["box_xyxy"]
            assert coco["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=2e-3)
            assert coco["category_id"] == det["class_id"]
        lines = (out / "labels" / f"{entry['name']}.txt").read_text().splitlines()
        first = [float(v) for v in lines[0].split()]
        x1, y1, x2, y2 = record["detections"][0]["box_xyxy"]
        w, h = record["width"], record["height"]
        assert first[0] == record["detections"][0]["class_id"] - 1
        assert first[1:5] == pytest.approx(
            [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h], abs=1e-5
        )
        picture = Image.open(out / "images" / f"{entry['name']}.jpg")
        assert picture.size == (w, h)


def test_conf_max_det_and_classes_filter(exported_model, sample_images, tmp_path):
    served = _served(exported_model, sample_images / "raccoon-1.jpg")
    scores = np.sort(served["detection_scores"][0])[::-1]
    conf = float(scores[5])
    summary = run(
        str(sample_images / "raccoon-1.jpg"), exported_model, str(tmp_path / "a"), conf=conf
    )
    assert summary["detections"] == int(np.sum(scores >= conf))
    summary = run(str(sample_images), exported_model, str(tmp_path / "b"), conf=0.0, max_det=4)
    assert summary["detections"] == 12
    summary = run(
        str(sample_images), exported_model, str(tmp_path / "c"), conf=0.0, classes=["dog"]
    )
    results = json.loads((tmp_path / "c" / "predictions.json").read_text())
    assert results and {r["category_id"] for r in results} == {2}
    assert summary["classes"] == [2]


def test_an_undecodable_image_is_skipped_and_named(exported_model, sample_images, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "ok.jpg").write_bytes((sample_images / "raccoon-1.jpg").read_bytes())
    summary = run(str(folder), exported_model, str(tmp_path / "out"), save_images=False)
    assert summary["images"] == 1
    assert [s["image"] for s in summary["skipped"]] == [str(folder / "broken.jpg")]
    assert f"warning: skipped {folder / 'broken.jpg'}: cannot decode" in capsys.readouterr().err
    assert not (tmp_path / "out" / "images").exists()


def test_production_is_the_newest_version_and_its_threshold_the_default(
    exported_model, sample_images, tmp_path, capsys
):
    import shutil

    root = tmp_path / "serving"
    for version in ("1", "3"):
        shutil.copytree(f"{exported_model}/saved_model", root / "det" / version)
        shutil.copy(f"{exported_model}/labels.json", root / "det" / version / "labels.json")
    record = {"version": 3, "operating_point": {"threshold": 0.4, "f1": 0.7}}
    (root / "det" / "3" / "push.json").write_text(json.dumps(record))
    image = str(sample_images / "raccoon-1.jpg")
    argv = [image, "--model", "production", "--serving-root", str(root), "--model-name", "det"]
    assert cli.main([*argv, "--output", str(tmp_path / "o")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == str(root / "det" / "3") and summary["images"] == 1
    assert (summary["conf"], summary["conf_source"]) == (0.4, "best F1 on the test split")
    assert cli.main([*argv, "--output", str(tmp_path / "p"), "--conf", "0.1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["conf"], summary["conf_source"]) == (0.1, "given")
    assert run(image, exported_model, str(tmp_path / "q"))["conf_source"] == "default"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "production"], "--model production needs --serving-root and --model-name"),
        (["--model", "{tmp}/none"], "does not exist"),
        (
            ["--model", "{model}", "--classes", "cow"],
            "unknown class 'cow' (the model's: 1=cat, 2=dog)",
        ),
        (["--model", "{model}", "--conf", "1.5"], "expected a number in 0..1"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    exported_model, sample_images, tmp_path, capsys, extra, message
):
    extra = [e.format(tmp=tmp_path, model=exported_model) for e in extra]
    assert cli.main([str(sample_images), *extra, "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
