"""The search's latency cost: measured latency in the reward, a hard limit refusing untrained."""

from __future__ import annotations

import csv
import json
import os

import pytest

from components.errors import UserError
from components.search import cli
from components.search.latency_limit import resolve_limit
from components.search.tuners import SearchSpec
from components.tuner_settings import parse_max_latency

BASE_MS = 42.0  # the fake base preset's latency
FAST_MS, SLOW_MS = 30.0, 60.0


def test_the_limit_is_the_reference_unless_given():
    assert resolve_limit(None, 12.5) == 12.5
    assert resolve_limit(7.0, 12.5) == 7.0
    assert resolve_limit(0.0, 12.5) is None
    assert resolve_limit(-3.0, 12.5) is None
    spec = SearchSpec(examples_dir="e", directory="d", reference_ms=12.5)
    assert spec.limit_ms == 12.5 and spec.needs_reference
    off = SearchSpec(examples_dir="e", directory="d", max_latency_ms=0.0, reference_ms=12.5)
    assert off.limit_ms is None and not off.needs_reference


def test_max_latency_is_base_or_a_finite_number():
    assert parse_max_latency("base") is None
    assert parse_max_latency(" BASE ") is None
    assert parse_max_latency("12.5") == 12.5
    assert parse_max_latency("0") == 0.0
    for bad in ("fast", "nan", "inf", ""):
        with pytest.raises(ValueError):
            parse_max_latency(bad)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-latency-ms", "fast"], "expected 'base' or a latency in milliseconds"),
        (["--max-latency-ms", "nan"], "expected a finite latency"),
        (["--serving-size", "-32"], "expected an integer >= 0"),
    ],
)
def test_cli_refuses_bad_latency_options(argv, message, capsys):
    status = cli.main(["--examples", "e", "--output", "o", *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert "Traceback" not in err


def test_cli_refuses_a_serving_size_off_the_grid(tmp_path, capsys):
    status = cli.main(
        ["--examples", str(tmp_path), "--output", str(tmp_path / "o"), "--serving-size", "100"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err == ["error: --serving-size must be 0 or a multiple of 32, got 100"]


def test_pipeline_parameter_refuses_a_bad_limit():
    from pipelines import parameters

    assert parameters.convert("search_max_latency_ms", "12.5") == "12.5"
    assert parameters.convert("search_max_latency_ms", "base") == "base"
    with pytest.raises(UserError, match="^parameter search_max_latency_ms: expected 'base'"):
        parameters.convert("search_max_latency_ms", "fast")
    with pytest.raises(UserError, match="search_max_latency_ms"):
        parameters.check_values({"search_max_latency_ms": "1e999"})


@pytest.fixture
def fake_latency(monkeypatch):
    """Measured latencies without timing: the base preset BASE_MS, the trials FAST_MS and
    SLOW_MS in turn (so a search of three trials has both); records the serving sizes."""
    from components.search import latency_limit

    calls = {"trial": 0, "sizes": [], "pattern": (FAST_MS, SLOW_MS)}

    def measure(config, serving_size=0, detector=None):
        calls["sizes"].append(serving_size or config.image_size)
        if config.name == "tiny":
            ms = BASE_MS
        else:
            ms = calls["pattern"][calls["trial"] % len(calls["pattern"])]
            calls["trial"] += 1
        return {"median_ms": ms, "p90_ms": ms, "runs": 1, "threads": 2}

    monkeypatch.setattr(latency_limit, "measure", measure)
    return calls


@pytest.fixture
def trained(monkeypatch):
    """Record the configs a trial trained (its training dataset was made)."""
    from components.search.hypermodel import DetectorHyperModel

    seen = []
    original = DetectorHyperModel.train_dataset

    def train_dataset(self, config):
        seen.append(config)
        return original(self, config)

    monkeypatch.setattr(DetectorHyperModel, "train_dataset", train_dataset)
    return seen


def _search(tiny_examples, tmp_path, space, **kwargs):
    from components.search.step import run

    kwargs.setdefault("max_trials", 3)
    return run(
        tiny_examples,
        str(tmp_path / "arch"),
        algorithm="random",
        epochs=1,
        seed=1,
        space=space,
        train_images=4,
        eval_images=2,
        **kwargs,
    )


def test_default_limit_is_the_base_preset_and_refuses_slower_trials_untrained(
    tiny_examples, tmp_path, tight_space, fake_latency, trained
):
    summary = _search(tiny_examples, tmp_path, tight_space, serving_size=64, latency_weight=-0.07)
    assert summary["reference_ms"] == BASE_MS and summary["max_latency_ms"] == BASE_MS
    assert fake_latency["sizes"] == [64, 64, 64, 64]  # the base preset, then each trial
    with open(tmp_path / "arch" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["latency_ms"]) for r in rows] == [FAST_MS, SLOW_MS, FAST_MS]
    assert {float(r["max_latency_ms"]) for r in rows} == {BASE_MS}
    slow = rows[1]
    assert slow["status"] == "FAILED" and slow["over_limit"] == "yes"
    assert slow["AP"] == "" and "over the latency limit: 60.00 ms > 42.00 ms" in slow["error"]
    assert float(slow["params"]) > 0 and float(slow["FLOPs"]) > 0
    assert [r["status"] for r in (rows[0], rows[2])] == ["COMPLETED", "COMPLETED"]
    assert len(trained) == 2  # the slow trial was never given its training data
    assert summary["over_limit_trials"] == 1 and summary["latency_ms"] == FAST_MS
    ap = float(rows[int(summary["best_trial"])]["AP"])
    assert summary["score"] == pytest.approx(ap * (FAST_MS / BASE_MS) ** -0.07)
    report = (tmp_path / "arch" / "report.md").read_text()
    assert "latency limit: 42.00 ms (the base preset tiny's latency" in report
    assert "## Over the latency limit (42.00 ms): not trained" in report
    assert f"- {slow['trial_id']}: 60.00 ms" in report

    # A resumed search keeps the limit it started with: the base preset is not measured again.
    with open(tmp_path / "arch.work" / "search_spec.json") as f:
        assert json.load(f)["reference_ms"] == BASE_MS
    before = len(fake_latency["sizes"])
    again = _search(tiny_examples, tmp_path, tight_space, serving_size=64, latency_weight=-0.07)
    assert again["max_latency_ms"] == BASE_MS and again["trials_run"] == 0
    assert again["resumed_trials"] == 3  # the refused trial is finished too: it is not rerun
    assert len(fake_latency["sizes"]) == before


def test_every_trial_too_slow_passes_the_base_preset_on(
    tiny_examples, tmp_path, tight_space, fake_latency, trained
):
    fake_latency["pattern"] = (SLOW_MS,)
    summary = _search(tiny_examples, tmp_path, tight_space, max_trials=2)
    assert summary["fallback"] == "tiny" and summary["best_trial"] is None
    assert summary["over_limit_trials"] == 2 and trained == []
    with open(tmp_path / "arch" / "architecture.json") as f:
        assert json.load(f)["name"] == "tiny"
    report = (tmp_path / "arch" / "report.md").read_text()
    assert "none of the 2 trials was within the latency limit: the base preset tiny" in report


def test_no_limit_trains_every_trial(tiny_examples, tmp_path, tight_space, fake_latency, trained):
    summary = _search(tiny_examples, tmp_path, tight_space, max_latency_ms=0.0, max_trials=2)
    assert summary["max_latency_ms"] is None and summary["reference_ms"] is None
    assert summary["status_counts"] == {"COMPLETED": 2} and len(trained) == 2
    with open(tmp_path / "arch" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["over_limit"] for r in rows} == {""} and {r["max_latency_ms"] for r in rows} == {""}


def test_the_reference_is_the_base_preset_measured_at_the_serving_size():
    pytest.importorskip("tensorflow")
    from components.search.latency_limit import measure, reference_ms

    ms = reference_ms("tiny", 1, 64)
    assert 0 < ms < 10_000
    from components.detector.config_load import get_preset

    config = get_preset("tiny").with_overrides({"num_classes": 1})
    assert config.image_size == 128
    result = measure(config, 64)
    assert result["threads"] >= 1 and result["runs"] > 0
    assert os.cpu_count() is None or result["threads"] <= os.cpu_count()
