"""Blessing: the rules on their own, and against a real baseline evaluated in the same step."""

from __future__ import annotations

import json

import pytest

from components.errors import UserError
from components.evaluate import blessing
from components.evaluate import run as evaluate_run


def _numbers(ap: float) -> dict[str, float]:
    return {"AP": ap, "AP50": min(1.0, ap + 0.2)}


def test_below_threshold_is_not_blessed():
    decision = blessing.decide(_numbers(0.25), None, min_ap=0.3)
    assert decision["blessed"] is False
    assert "below the minimum AP 0.3000" in decision["reasons"][0]


def test_at_threshold_without_baseline_is_blessed():
    decision = blessing.decide(_numbers(0.3), None, min_ap=0.3)
    assert decision["blessed"] is True
    assert decision["baseline"] is None
    assert "no baseline" in decision["reasons"][1]


def test_better_than_baseline_is_blessed():
    decision = blessing.decide(_numbers(0.5), _numbers(0.4), min_ap=0.1, baseline_source="v3")
    assert decision["blessed"] is True
    assert "improves on the baseline (v3) AP 0.4000" in decision["reasons"][1]
    assert decision["baseline"]["AP"] == 0.4


def test_slightly_worse_within_tolerance_is_blessed():
    decision = blessing.decide(_numbers(0.395), _numbers(0.4), tolerance=0.01)
    assert decision["blessed"] is True
    assert "within the tolerance" in decision["reasons"][1]


def test_worse_beyond_tolerance_is_not_blessed():
    decision = blessing.decide(_numbers(0.38), _numbers(0.4), min_ap=0.1, tolerance=0.01)
    assert decision["blessed"] is False
    assert "worse than the baseline AP 0.4000 by 0.0200" in decision["reasons"][1]


def test_undefined_ap_is_not_blessed():
    decision = blessing.decide(_numbers(-1.0), None)
    assert decision["blessed"] is False
    assert "no ground-truth boxes" in decision["reasons"][0]


@pytest.mark.parametrize(("min_ap", "tolerance"), [(-0.1, 0.01), (1.5, 0.01), (0.1, -0.01)])
def test_bad_rules_are_user_errors(min_ap, tolerance):
    with pytest.raises(UserError):
        blessing.decide(_numbers(0.5), None, min_ap=min_ap, tolerance=tolerance)


# --- against real SavedModels -------------------------------------------------------------

IMAGES = [
    {"width": 64, "height": 48, "boxes": [[0.1, 0.1, 0.6, 0.5]], "classes": [1]},
    {"width": 64, "height": 48, "boxes": [[0.2, 0.3, 0.9, 0.9]], "classes": [2]},
    {
        "width": 80,
        "height": 80,
        "boxes": [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]],
        "classes": [1, 2],
    },
    {"width": 80, "height": 80, "boxes": [], "classes": []},
]


def _perfect(images, upto: int) -> dict[int, list]:
    """Exact detections for the boxes of the first ``upto`` images, nothing for the others."""
    table = {}
    for i, img in enumerate(images, start=1):
        dets = list(zip(img["boxes"], [0.9] * len(img["boxes"]), img["classes"], strict=True))
        table[i] = dets if i <= upto else []
    return table


@pytest.fixture
def examples(tmp_path, make_examples):
    return make_examples(tmp_path / "examples", IMAGES)


def test_better_than_pushed_baseline(tmp_path, examples, make_lookup_model):
    serving = tmp_path / "serving"
    make_lookup_model(serving / "det" / "3", _perfect(IMAGES, 1), layout="version")
    make_lookup_model(serving / "det" / "1", {}, layout="version")  # older, ignored
    model = make_lookup_model(tmp_path / "model", _perfect(IMAGES, 4))
    out = tmp_path / "eval"
    result = evaluate_run(
        model, examples, str(out), serving_root=str(serving), model_name="det", min_ap=0.5
    )
    assert result["blessed"] is True
    assert result["metrics"]["AP"] == pytest.approx(1.0)
    assert 0.0 < result["baseline_metrics"]["AP"] < 0.6
    saved = json.loads((out / "blessing.json").read_text())
    assert saved["baseline_source"].endswith("det/3")
    assert saved["baseline"]["AP"] == pytest.approx(result["baseline_metrics"]["AP"])


def test_worse_than_baseline_beyond_tolerance(tmp_path, examples, make_lookup_model):
    base = make_lookup_model(tmp_path / "base", _perfect(IMAGES, 4))  # a Model artifact
    model = make_lookup_model(tmp_path / "model", _perfect(IMAGES, 2))
    result = evaluate_run(
        model, examples, str(tmp_path / "eval"), baseline_dir=base, tolerance=0.05
    )
    assert result["blessed"] is False
    assert any("worse than the baseline" in r for r in result["reasons"])


def test_no_baseline_is_not_an_error(tmp_path, examples, make_lookup_model):
    model = make_lookup_model(tmp_path / "model", _perfect(IMAGES, 2))
    result = evaluate_run(
        model,
        examples,
        str(tmp_path / "eval"),
        serving_root=str(tmp_path / "none"),
        model_name="det",
    )
    assert result["blessed"] is True
    assert result["baseline_metrics"] is None
    assert any("no pushed version" in r for r in result["reasons"])


def test_below_min_ap_end_to_end(tmp_path, examples, make_lookup_model):
    model = make_lookup_model(tmp_path / "model", _perfect(IMAGES, 1))
    result = evaluate_run(model, examples, str(tmp_path / "eval"), min_ap=0.9)
    assert result["blessed"] is False
    assert "below the minimum AP 0.9000" in result["reasons"][0]


def test_baseline_identical_to_candidate_is_within_tolerance(tmp_path, examples, make_lookup_model):
    model = make_lookup_model(tmp_path / "model", _perfect(IMAGES, 2))
    result = evaluate_run(
        model, examples, str(tmp_path / "eval"), baseline_dir=model, tolerance=0.0
    )
    assert result["baseline_metrics"] == result["metrics"]
    assert result["blessed"] is True
    assert any("within the tolerance" in r for r in result["reasons"])
