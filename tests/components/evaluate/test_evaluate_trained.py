"""End to end on a tiny detector trained here: train -> evaluate -> push -> evaluate vs pushed."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from components.evaluate.blessing import DEFAULT_RULES

pytestmark = pytest.mark.slow

TRAIN_IMAGES = 2
EVAL_IMAGES = 2


def _voc_example(xml_path, images_dir):
    """A tf.Example (Object Detection keys) of one VOC annotation of the bundled sample."""
    import tensorflow as tf

    root = ET.parse(xml_path).getroot()
    width = int(root.findtext("size/width"))
    height = int(root.findtext("size/height"))
    encoded = (images_dir / root.findtext("filename")).read_bytes()
    rows = []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        xmin, ymin, xmax, ymax = (float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        rows.append((ymin / height, xmin / width, ymax / height, xmax / width))

    def floats(i):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[r[i] for r in rows]))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    feature = {
        "image/encoded": strings([encoded]),
        "image/format": strings([b"jpeg"]),
        "image/height": ints([height]),
        "image/width": ints([width]),
        "image/filename": strings([root.findtext("filename").encode()]),
        "image/source_id": strings([xml_path.stem.encode()]),
        "image/object/bbox/ymin": floats(0),
        "image/object/bbox/xmin": floats(1),
        "image/object/bbox/ymax": floats(2),
        "image/object/bbox/xmax": floats(3),
        "image/object/class/label": ints([1] * len(rows)),
        "image/object/class/text": strings([b"raccoon"] * len(rows)),
        "image/object/is_crowd": ints([0] * len(rows)),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture
def sample_examples(tmp_path, sample_dir):
    """An Examples artifact of TRAIN_IMAGES train and EVAL_IMAGES eval images of the sample."""
    import tensorflow as tf

    xmls = sorted((sample_dir / "annotations").glob("*.xml"))[: TRAIN_IMAGES + EVAL_IMAGES]
    root = tmp_path / "examples"
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    held_out = xmls[TRAIN_IMAGES:]
    for split, part in (("train", xmls[:TRAIN_IMAGES]), ("val", held_out), ("test", held_out)):
        (root / f"Split-{split}").mkdir(parents=True)
        path = root / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz"
        with tf.io.TFRecordWriter(str(path), options) as writer:
            for xml in part:
                writer.write(_voc_example(xml, sample_dir / "images"))
    labels = {"classes": [{"id": 1, "name": "raccoon", "source_id": 1}]}
    (root / "labels.json").write_text(json.dumps(labels))
    return str(root)


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_tiny_trained_model_evaluate_push_and_compare(tmp_path, sample_examples):
    from components import push, train
    from components.evaluate import run as evaluate_run

    model = str(tmp_path / "model")
    train.run(sample_examples, "tiny", model, epochs=1, batch_size=2)

    # The default gate refuses a barely trained model, on the first run too (no baseline).
    refused = evaluate_run(model, sample_examples, str(tmp_path / "eval0"))
    assert refused["blessed"] is False
    assert refused["metrics"]["AP"] < DEFAULT_RULES.min_ap
    assert refused["reasons"][0].startswith("min_ap: AP ")
    # Scored by the COCO protocol, its weak detections still count (the serving threshold
    # would hide them): the evaluation is of real detections, not of an empty list.
    assert refused["metrics"]["num_detections"] > 0
    assert refused["metrics"]["signature"] == "evaluation"

    first = tmp_path / "eval1"
    relaxed = dataclasses.replace(DEFAULT_RULES, min_ap=0.0)
    result = evaluate_run(model, sample_examples, str(first), rules=relaxed)
    assert sorted(p.name for p in first.iterdir()) == [
        "blessing.json",
        "metrics.json",
        "operating_point.json",
        "pr_curves.json",
        "report.html",
        "report.md",
    ]
    metrics = result["metrics"]
    assert metrics["num_images"] == EVAL_IMAGES and metrics["num_ground_truth"] >= EVAL_IMAGES
    assert 0.0 <= metrics["AP"] <= 1.0 and 0.0 <= metrics["AR100"] <= 1.0
    assert result["blessed"] is True  # min_ap relaxed to 0 and no baseline
    parser = _Images()
    parser.feed((first / "report.html").read_text())
    assert len(parser.sources) == 3 + EVAL_IMAGES  # PR, F1 curve, confusion matrix, images
    assert all(src.startswith("data:image/") for src in parser.sources)

    serving = tmp_path / "serving"
    pushed = push.run(model, str(first / "blessing.json"), str(serving), "raccoon")
    assert pushed["version"] == 1
    # The pushed version can warm-start the next training (it carries the Keras weights).
    version_dir = serving / "raccoon" / "1"
    assert (version_dir / "model.weights.h5").is_file()
    warm = train.run(
        sample_examples,
        "tiny",
        str(tmp_path / "warm"),
        epochs=1,
        batch_size=2,
        warm_start=str(version_dir),
    )
    assert warm["epochs_run"] == 1

    # The pushed version is the baseline now; the same model is within tolerance of itself.
    second = tmp_path / "eval2"
    again = evaluate_run(
        model,
        sample_examples,
        str(second),
        serving_root=str(serving),
        model_name="raccoon",
        rules=relaxed,
    )
    assert again["baseline_metrics"]["AP"] == pytest.approx(metrics["AP"], abs=1e-12)
    assert again["metrics"]["AP"] == pytest.approx(metrics["AP"], abs=1e-12)
    assert again["blessed"] is True
