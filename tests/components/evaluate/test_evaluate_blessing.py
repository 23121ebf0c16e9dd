"""Blessing: the rules on their own, and against a real baseline evaluated in the same step."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.errors import UserError
from components.evaluate import blessing
from components.evaluate import run as evaluate_run
from components.metrics.coco_eval import METRIC_NAMES


def _numbers(ap: float, detections: int = 10, per_class: dict | None = None) -> dict:
    """A metrics.json-like document: the 12 numbers, a detection count and per-class rows."""
    doc = {name: 0.0 for name in METRIC_NAMES}
    doc.update(AP=ap, AP50=min(1.0, ap + 0.2), num_detections=detections)
    doc["per_class"] = per_class or {}
    return doc


def _rules(**changes) -> blessing.BlessingRules:
    return dataclasses.replace(blessing.DEFAULT_RULES, **changes)


def test_below_threshold_is_not_blessed():
    decision = blessing.decide(_numbers(0.25), None, _rules(min_ap=0.3))
    assert decision["blessed"] is False
    assert decision["failed"] == ["min_ap"]
    assert "below the minimum AP 0.3000" in decision["reasons"][0]


def test_at_threshold_without_baseline_is_blessed():
    decision = blessing.decide(_numbers(0.3), None, _rules(min_ap=0.3))
    assert decision["blessed"] is True
    assert decision["baseline"] is None
    assert "no baseline" in decision["reasons"][1]


def test_default_gate_refuses_a_weak_first_model():
    """The default floor applies on the first run too (there is no baseline to compare with)."""
    decision = blessing.decide(_numbers(0.01), None)
    assert decision["blessed"] is False
    assert decision["failed"] == ["min_ap"]
    assert decision["reasons"][0].startswith("min_ap: AP 0.0100 is below the minimum AP 0.0500")


def test_no_detections_is_never_blessed_even_with_min_ap_zero():
    decision = blessing.decide(_numbers(0.0, detections=0), None, _rules(min_ap=0.0))
    assert decision["blessed"] is False
    assert decision["failed"] == ["detections"]
    assert decision["reasons"][0].startswith("detections: the model made no detections")


def test_better_than_baseline_is_blessed():
    decision = blessing.decide(_numbers(0.5), _numbers(0.4), _rules(min_ap=0.1), "v3")
    assert decision["blessed"] is True
    assert "improves on the baseline (v3) AP 0.4000" in decision["reasons"][1]
    assert decision["baseline"]["AP"] == 0.4


def test_slightly_worse_within_tolerance_is_blessed():
    decision = blessing.decide(_numbers(0.395), _numbers(0.4), _rules(tolerance=0.01))
    assert decision["blessed"] is True
    assert "within the tolerance" in decision["reasons"][1]


def test_worse_beyond_tolerance_is_not_blessed():
    decision = blessing.decide(_numbers(0.38), _numbers(0.4), _rules(min_ap=0.1, tolerance=0.01))
    assert decision["blessed"] is False
    assert decision["failed"] == ["baseline"]
    assert "worse than the baseline AP 0.4000 by 0.0200" in decision["reasons"][1]


def test_undefined_ap_is_not_blessed():
    decision = blessing.decide(_numbers(-1.0), None)
    assert decision["blessed"] is False
    assert "no ground-truth boxes" in decision["reasons"][0]


def _classes(**aps) -> dict:
    return {
        name: {"id": i, "AP": ap, "num_boxes": boxes}
        for i, (name, (ap, boxes)) in enumerate(aps.items(), 1)
    }


def test_a_lost_class_blocks_a_better_mean_and_is_named():
    base = _numbers(0.55, per_class=_classes(cat=(0.5, 30), dog=(0.6, 30)))
    cand = _numbers(0.6, per_class=_classes(cat=(0.9, 30), dog=(0.3, 30)))
    decision = blessing.decide(cand, base)
    assert decision["blessed"] is False
    assert decision["failed"] == ["per_class"]
    assert "per_class: 1 class(es) lost more than 0.0500 AP" in decision["reasons"][-1]
    assert "dog 0.6000 -> 0.3000" in decision["reasons"][-1]
    assert decision["class_deltas"]["dog"]["delta"] == pytest.approx(-0.3)
    # relaxed by the user: blessed
    assert blessing.decide(cand, base, _rules(class_tolerance=1.0))["blessed"] is True


def test_classes_with_few_eval_boxes_are_not_judged():
    base = _numbers(0.55, per_class=_classes(cat=(0.5, 30), dog=(0.6, 5)))
    cand = _numbers(0.6, per_class=_classes(cat=(0.9, 30), dog=(0.3, 5)))
    decision = blessing.decide(cand, base)
    assert decision["blessed"] is True
    assert "(1 judged)" in decision["reasons"][-1]


@pytest.mark.parametrize(
    "changes",
    [
        {"min_ap": -0.1},
        {"min_ap": 1.5},
        {"tolerance": -0.01},
        {"class_tolerance": float("nan")},
        {"class_min_boxes": 0},
        {"min_ap": "high"},
    ],
)
def test_bad_rules_are_user_errors(changes):
    with pytest.raises(UserError):
        blessing.BlessingRules(**changes)


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
        model,
        examples,
        str(out),
        serving_root=str(serving),
        model_name="det",
        rules=_rules(min_ap=0.5),
    )
    assert result["blessed"] is True
    assert result["metrics"]["AP"] == pytest.approx(1.0)
    assert 0.0 < result["baseline_metrics"]["AP"] < 0.6
    saved = json.loads((out / "blessing.json").read_text())
    assert saved["baseline_source"].endswith("det/3")
    assert saved["baseline"]["AP"] == pytest.approx(result["baseline_metrics"]["AP"])


REPEATED = IMAGES * 8  # 32 images: enough for the paired bootstrap to be sure of a clear drop


def test_worse_than_baseline_beyond_tolerance_with_confidence(
    tmp_path, make_examples, make_lookup_model
):
    examples = make_examples(tmp_path / "examples", REPEATED)
    base = make_lookup_model(tmp_path / "base", _perfect(REPEATED, 32))  # a Model artifact
    model = make_lookup_model(tmp_path / "model", _perfect(REPEATED, 12))
    result = evaluate_run(
        model, examples, str(tmp_path / "eval"), baseline_dir=base, rules=_rules(tolerance=0.05)
    )
    assert result["blessed"] is False
    reason = next(r for r in result["reasons"] if r.startswith("baseline:"))
    assert "worse than the baseline" in reason and "with confidence" in reason
    saved = json.loads((tmp_path / "eval" / "blessing.json").read_text())
    assert saved["uncertainty"]["difference"][1] < -0.05
    assert saved["uncertainty"]["samples"] == 1000


def test_a_drop_the_test_split_cannot_tell_from_noise_passes(tmp_path, examples, make_lookup_model):
    """4 test images: the candidate's point estimate is far below the baseline's, but on
    resamples of these images the drop is often zero, so the gate does not refuse it."""
    base = make_lookup_model(tmp_path / "base", _perfect(IMAGES, 4))
    model = make_lookup_model(tmp_path / "model", _perfect(IMAGES, 2))
    result = evaluate_run(
        model, examples, str(tmp_path / "eval"), baseline_dir=base, rules=_rules(tolerance=0.05)
    )
    assert result["metrics"]["AP"] < result["baseline_metrics"]["AP"] - 0.05
    assert result["blessed"] is True
    assert any("does not show it worse by more than the tolerance" in r for r in result["reasons"])


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
    result = evaluate_run(model, examples, str(tmp_path / "eval"), rules=_rules(min_ap=0.9))
    assert result["blessed"] is False
    assert "below the minimum AP 0.9000" in result["reasons"][0]
    assert json.loads((tmp_path / "eval" / "blessing.json").read_text())["failed"] == ["min_ap"]


def test_baseline_identical_to_candidate_is_within_tolerance(tmp_path, examples, make_lookup_model):
    model = make_lookup_model(tmp_path / "model", _perfect(IMAGES, 2))
    result = evaluate_run(
        model, examples, str(tmp_path / "eval"), baseline_dir=model, rules=_rules(tolerance=0.0)
    )
    candidate = {k: v for k, v in result["metrics"].items() if k != "operating_point"}
    assert result["baseline_metrics"] == candidate  # the operating point is the candidate's only
    assert result["blessed"] is True
    assert any("interval of the difference +0.0000 to +0.0000" in r for r in result["reasons"])


# Two classes, 24 boxes each: enough eval boxes for the per-class rule to judge both.
MANY = [
    {
        "width": 96,
        "height": 96,
        "boxes": [
            [0.0, 0.0, 0.4, 0.4],
            [0.5, 0.5, 0.9, 0.9],
            [0.0, 0.5, 0.4, 0.9],
            [0.5, 0.0, 0.9, 0.4],
        ],
        "classes": [1, 1, 2, 2],
    }
    for _ in range(12)
]


def _found(images, keep) -> dict[int, list]:
    """Exact detections of the boxes for which ``keep(image index, class)`` holds."""
    table = {}
    for i, img in enumerate(images, start=1):
        table[i] = [
            (box, 0.9, cls)
            for box, cls in zip(img["boxes"], img["classes"], strict=True)
            if keep(i, cls)
        ]
    return table


def test_higher_mean_ap_that_loses_a_class_is_refused_end_to_end(
    tmp_path, make_examples, make_lookup_model
):
    examples = make_examples(tmp_path / "examples", MANY)
    # baseline: every class-2 box, half of the class-1 boxes; candidate: every class-1 box,
    # a third of the class-2 boxes. The candidate's mean AP is higher.
    base = make_lookup_model(tmp_path / "base", _found(MANY, lambda i, c: c == 2 or i <= 6))
    model = make_lookup_model(tmp_path / "model", _found(MANY, lambda i, c: c == 1 or i <= 8))
    out = tmp_path / "eval"
    result = evaluate_run(model, examples, str(out), baseline_dir=base)
    assert result["metrics"]["AP"] > result["baseline_metrics"]["AP"]
    assert result["blessed"] is False
    saved = json.loads((out / "blessing.json").read_text())
    assert saved["failed"] == ["per_class"]
    lost = [r for r in result["reasons"] if r.startswith("per_class:")]
    assert lost and "dog" in lost[0] and "cat" not in lost[0], lost
    report = (out / "report.md").read_text()
    assert "| dog |" in report and "-0." in report  # the per-class delta is shown


def test_scores_below_the_serving_threshold_still_count(tmp_path, examples, make_lookup_model):
    """COCO protocol: exact boxes all scored 0.02 (below serving's 0.05) get their true AP."""
    dets = {
        i: [(box, 0.02, cls) for box, cls in zip(img["boxes"], img["classes"], strict=True)]
        for i, img in enumerate(IMAGES, start=1)
    }
    model = make_lookup_model(tmp_path / "model", dets, serving_threshold=0.05)
    result = evaluate_run(model, examples, str(tmp_path / "eval"))
    assert result["metrics"]["signature"] == "evaluation"
    assert result["metrics"]["AP"] == pytest.approx(1.0)
    assert result["blessed"] is True
    # Through serving_default alone (a model exported before the evaluation signature) the
    # same model has no detections, and the gate says so.
    old = make_lookup_model(tmp_path / "old", {i: [] for i in dets})
    refused = evaluate_run(old, examples, str(tmp_path / "eval-old"))
    assert refused["blessed"] is False and refused["reasons"][0].startswith("detections:")


def test_a_baseline_without_the_evaluation_signature_is_compared_like_with_like(
    tmp_path, make_examples, make_lookup_model
):
    """An old baseline is scored through serving_default; the candidate is compared the same
    way, so its sub-threshold detections do not win it the comparison."""
    examples = make_examples(tmp_path / "examples", REPEATED)
    exact = _perfect(REPEATED, 32)
    # candidate: every box found, but those of images 2..32 only at score 0.02
    dets = {i: [(b, 0.9 if i == 1 else 0.02, c) for b, _, c in d] for i, d in exact.items()}
    model = make_lookup_model(tmp_path / "model", dets, serving_threshold=0.05)
    base = make_lookup_model(tmp_path / "base", exact)  # serving_default only, all found
    result = evaluate_run(model, examples, str(tmp_path / "eval"), baseline_dir=base)
    assert result["metrics"]["AP"] == pytest.approx(1.0)  # its own AP, by the COCO protocol
    assert result["baseline_metrics"]["signature"] == "serving_default"
    assert result["blessed"] is False
    saved = json.loads((tmp_path / "eval" / "blessing.json").read_text())
    assert saved["failed"] == ["baseline"]
    assert any("compared through serving_default" in r for r in result["reasons"])


def test_the_default_floor_refuses_a_random_guesser(sample_dir):
    """100 random boxes per image on the bundled raccoon images (one class, large boxes, an
    easy set to guess on) score far below the default min_ap: the floor refuses a guesser."""
    import xml.etree.ElementTree as ET

    import numpy as np

    from components.metrics import coco_eval

    rng = np.random.default_rng(0)
    images, detections = [], []
    for image_id, path in enumerate(sorted((sample_dir / "annotations").glob("*.xml")), start=1):
        root = ET.parse(path).getroot()
        w, h = int(root.findtext("size/width")), int(root.findtext("size/height"))
        boxes = np.array(
            [
                [
                    float(o.findtext(f"bndbox/{k}")) / s
                    for k, s in zip(("ymin", "xmin", "ymax", "xmax"), (h, w, h, w), strict=True)
                ]
                for o in root.findall("object")
            ]
        )
        n = len(boxes)
        images.append(
            coco_eval.ImageTruth(
                image_id, path.name, w, h, boxes, np.ones(n, int), np.zeros(n, int), np.zeros(n)
            )
        )
        centre, size = rng.uniform(0, 1, (100, 2)), rng.uniform(0.1, 0.9, (100, 2))
        guesses = np.clip(np.concatenate([centre - size / 2, centre + size / 2], axis=1), 0, 1)
        detections.append(
            coco_eval.ImageDetections(image_id, guesses, rng.uniform(0, 1, 100), np.ones(100, int))
        )
    metrics = coco_eval.evaluate(images, detections, [{"id": 1, "name": "raccoon"}], "pycocotools")
    ap = metrics["metrics"]["AP"]
    assert 0.0 < ap < blessing.DEFAULT_RULES.min_ap / 3, ap
    assert metrics["metrics"]["AR100"] > 0.2  # many raccoons were "found": guessing is not nothing
