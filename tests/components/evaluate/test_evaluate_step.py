"""The evaluate step end to end on a real SavedModel: files, reports, command line, errors."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

import pytest

from components.evaluate import cli, predict
from components.evaluate import run as evaluate_run
from components.metrics import coco_eval

IMAGES = [
    {"width": 64, "height": 48, "boxes": [[0.1, 0.1, 0.6, 0.5]], "classes": [1]},
    {"width": 32, "height": 40, "boxes": [[0.2, 0.3, 0.9, 0.9]], "classes": [2]},
    {
        "width": 64,
        "height": 48,
        "boxes": [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]],
        "classes": [1, 2],
    },
    {"width": 50, "height": 50, "boxes": [[0.3, 0.3, 0.7, 0.7]], "classes": [1], "is_crowd": [1]},
    {"width": 64, "height": 48, "boxes": [], "classes": []},
]
# Every cat is found exactly (the crowd cat region of image 4 counts for nothing); every dog
# detection misses (image 3's is shifted by 40% of the box: IoU 0.43), so AP = (1 + 0) / 2.
DETECTIONS = {
    1: [([0.1, 0.1, 0.6, 0.5], 0.9, 1)],
    2: [([0.0, 0.0, 0.1, 0.1], 0.8, 2)],
    3: [([0.0, 0.0, 0.5, 0.5], 0.7, 1), ([0.5, 0.7, 1.0, 1.2], 0.6, 2)],
    4: [],
    5: [([0.1, 0.1, 0.2, 0.2], 0.2, 2)],
}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self.tables += tag == "table"


@pytest.fixture
def artifacts(tmp_path, make_examples, make_lookup_model):
    examples = make_examples(tmp_path / "examples", IMAGES)
    model = make_lookup_model(tmp_path / "model", DETECTIONS)
    return examples, model


def test_evaluate_writes_all_files_and_a_self_contained_html(tmp_path, artifacts):
    from PIL import Image

    examples, model = artifacts
    out = tmp_path / "evaluation"
    result = evaluate_run(model, examples, str(out), batch_size=2)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "blessing.json",
        "metrics.json",
        "operating_point.json",
        "pr_curves.json",
        "report.html",
        "report.md",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == result["metrics"]
    assert set(coco_eval.METRIC_NAMES) <= set(metrics)
    assert (metrics["num_images"], metrics["num_ground_truth"], metrics["num_detections"]) == (
        5,
        5,
        5,
    )
    # cat: 2 of 2 found exactly (the crowd box is ignored); dog: 0 of 2 found.
    assert metrics["per_class"]["cat"]["AP"] == pytest.approx(1.0)
    assert metrics["per_class"]["dog"]["AP"] == 0.0
    assert metrics["AP"] == pytest.approx(0.5)
    blessing = json.loads((out / "blessing.json").read_text())
    assert blessing["blessed"] is True and blessing["candidate"]["AP"] == metrics["AP"]
    assert blessing["model_fingerprint"].startswith("sha256:")
    assert blessing["data_fingerprint"].startswith("sha256:")
    report = (out / "report.md").read_text()
    assert "| AP | AP at IoU 0.50:0.95 | 0.5000 |" in report and "| dog | 2 | 0.0000 |" in report

    parser = _Collector()
    parser.feed((out / "report.html").read_text())
    parser.close()
    assert parser.tables == 2
    assert all(src.startswith("data:image/") for src in parser.images)
    # the PR plot, the F1 curve, the confusion matrix and every eval image (<= 12)
    assert len(parser.images) == 3 + len(IMAGES)
    for src in parser.images:
        header, payload = src.split(",", 1)
        picture = Image.open(io.BytesIO(base64.b64decode(payload)))
        assert picture.format == ("PNG" if "png" in header else "JPEG")
        assert picture.size[0] > 0


def test_the_operating_point_and_the_confusion_matrix(tmp_path, artifacts):
    examples, model = artifacts
    out = tmp_path / "evaluation"
    result = evaluate_run(model, examples, str(out))
    # Scores: cat hit 0.9, dog in the wrong place 0.8, cat hit 0.7, dog shifted 0.6 (IoU 0.43),
    # dog on an empty image 0.2; 4 boxes to find (the crowd cat does not count). Best F1 keeps
    # the first three: P 2/3, R 1/2; 0.7 is a float32 just below 0.7, so 0.69 is the cut.
    best = {"threshold": 0.69, "precision": 2 / 3, "recall": 0.5, "f1": 4 / 7}
    assert result["metrics"]["operating_point"] == pytest.approx(best)
    assert json.loads((out / "blessing.json").read_text())["operating_point"] == pytest.approx(best)
    op = json.loads((out / "operating_point.json").read_text())
    assert op["confusion_matrix"]["labels"] == ["background", "cat", "dog"]
    # cats: both found; dogs: both missed; one dog detected on background.
    assert op["confusion_matrix"]["matrix"] == [[0, 0, 1], [0, 2, 0], [2, 0, 0]]
    assert result["confusion_matrix"] == op["confusion_matrix"]
    # The report draws the worst images first: img2 (its dog missed, a false dog), img3 (its
    # dog missed: the 0.6 detection is under the threshold), then the others in split order.
    import re

    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", (out / "report.html").read_text())
    assert captions == [
        "img2: 1 missed, 1 false",
        "img3: 1 missed, 0 false",
        "img1: 0 missed, 0 false",
        "img4: 0 missed, 0 false",
        "img5: 0 missed, 0 false",
    ]


def test_the_same_images_through_any_batch_size(tmp_path, artifacts):
    examples, model = artifacts
    one = evaluate_run(model, examples, str(tmp_path / "a"), batch_size=1)["metrics"]
    many = evaluate_run(model, examples, str(tmp_path / "b"), batch_size=8)["metrics"]
    assert one == many


def test_batches_group_images_by_size():
    import numpy as np

    items = [(i, np.zeros((h, 4, 3), np.uint8)) for i, h in enumerate([2, 3, 2, 2, 3, 5, 2], 1)]
    batches = list(predict.batches_by_size(iter(items), batch_size=2, max_pending=3))
    assert sorted(i for ids, _ in batches for i in ids) == list(range(1, 8))
    for ids, batch in batches:
        assert len(ids) == batch.shape[0] <= 2
        assert len({items[i - 1][1].shape for i in ids}) == 1


def test_cli_evaluates_and_reports(tmp_path, artifacts, capsys):
    examples, model = artifacts
    out = tmp_path / "cli-eval"
    status = cli.main(
        ["--model", model, "--examples", examples, "--output", str(out), "--min-ap", "0.6"]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "NOT blessed" in printed and "below the minimum AP 0.6000" in printed
    assert json.loads((out / "blessing.json").read_text())["blessed"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{tmp}/missing"], "does not exist"),
        (["--model", "{examples}"], "holds no SavedModel"),
        (["--examples", "{tmp}"], "is not an Examples artifact"),
        (["--min-ap", "2"], "min_ap must be between 0 and 1, got 2.0"),
        (["--serving-root", "{tmp}"], "--serving-root needs --model-name"),
        (["--batch-size", "0"], "batch size must be >= 1"),
        (["--evaluator", "nope"], "argument --evaluator: invalid choice"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, artifacts, capsys, args, message):
    examples, model = artifacts
    base = {"--model": model, "--examples": examples, "--output": str(tmp_path / "out")}
    for key, value in zip(args[::2], args[1::2], strict=True):
        base[key] = value.format(tmp=tmp_path, examples=examples)
    argv = [item for pair in base.items() for item in pair]
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse usage errors exit from the parser
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_truncated_test_shard_is_a_one_line_error_naming_it(tmp_path, artifacts, capsys):
    examples, model = artifacts
    shard = next((tmp_path / "examples" / "Split-test").iterdir())
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    args = ["--examples", examples, "--model", model, "--output", str(tmp_path / "eval")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: Examples shard {shard} is damaged (")
