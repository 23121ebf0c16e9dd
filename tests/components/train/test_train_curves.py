"""Val AP every k epochs in history.csv, and the curves plot of the Model artifact."""

from __future__ import annotations

import csv
import io
import math

import pytest

keras = pytest.importorskip("keras")

from PIL import Image  # noqa: E402

from components.detector.config_load import load_architecture  # noqa: E402
from components.train import run  # noqa: E402
from components.train.curves import CURVES_FILE, curves_png, read_history  # noqa: E402
from tests.components.train.conftest import SMALL  # noqa: E402


def test_val_ap_every_second_epoch_lands_in_history_and_the_curves(resume_examples, tmp_path):
    arch = tmp_path / "arch.json"
    config = load_architecture("tiny").with_overrides({**SMALL, "train.val_ap_every": 2})
    arch.write_text(config.to_json())
    out = tmp_path / "model"
    run(str(resume_examples), str(arch), str(out), epochs=4, verbose=0)
    rows = list(csv.DictReader(io.StringIO((out / "history.csv").read_text())))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    scored = [r for r in rows if r.get("val_AP")]
    assert [r["epoch"] for r in scored] == ["2", "4"]
    for row in scored:
        assert 0.0 <= float(row["val_AP"]) <= float(row["val_AP50"]) <= 1.0
    picture = Image.open(out / CURVES_FILE)
    assert picture.format == "PNG" and picture.size[0] > 1000  # two panels: losses and AP


def test_curves_without_ap_are_one_panel_and_nothing_without_epochs():
    rows = read_history("epoch,loss,val_loss\n1,2.0,2.5\n2,1.5,\n")
    assert math.isnan(rows[1]["val_loss"])
    picture = Image.open(io.BytesIO(curves_png(rows)))
    assert picture.size[0] < 700
    assert curves_png([]) is None
