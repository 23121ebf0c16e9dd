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
    from pipelines import parameter_values

    assert parameter_values.convert("search_max_latency_ms", "12.5") == "12.5"
    assert parameter_values.convert("search_max_latency_ms", "base") == "base"
    with pytest.raises(UserError, match="^parameter search_max_latency_ms: expected 'base'"):
        parameter_values.convert("search_max_latency_ms", "fast")
    with pytest.raises(UserError, match="search_max_latency_ms"):
        parameter_values.check_values({"search_max_latency_ms": "1e999"})


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

    def paired(self, config, detector=None):  # timed beside the reference: the same fake
        return measure(config, self.serving_size, detector)

    monkeypatch.setattr(latency_limit, "measure", measure)
    monkeypatch.setattr(latency_limit.PairedReference, "measure", paired)
    return calls


@pytest.fixture
def trained(monkeypatch):
    """Record the configs a trial trained (its training dataset was made)."""
    from components.search.hypermodel import DetectorHyperModel

    seen = []
    original = DetectorHyperModel.train_dataset

    def train_dataset(self, config, seed=None):
        seen.append(config)
        return original(self, config, seed)

    monkeypatch.setattr(DetectorHyperModel, "train_dataset", train_dataset)
    return seen


def _search(tiny_examples, tmp_path, space, **kwargs):
    from components.search.step import run

    kwargs.setdefault("max_trials", 3)
    kwargs.setdefault("epochs", 1)
    return run(
        tiny_examples,
        str(tmp_path / "arch"),
        algorithm="random",
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


def test_the_base_preset_is_trial_zero_and_is_trained_even_when_timed_over_its_limit(
    tiny_examples, tmp_path, fake_latency, trained
):
    """In a space that holds the base preset, the oracle proposes it first; it sets the limit,
    so a timing over the limit (noise) does not refuse it; with nothing better it is the pick."""
    from components.search.hypermodel import base_values
    from components.search.space import SMALL

    fake_latency["pattern"] = (SLOW_MS,)  # every trial, the base preset's too, times slow
    summary = _search(tiny_examples, tmp_path, "small", serving_size=64, max_trials=1)
    with open(tmp_path / "arch" / "trials.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert json.loads(row["values"]) == base_values(SMALL, 64)
    assert row["status"] == "COMPLETED" and row["over_limit"] == "" and len(trained) == 1
    assert summary["best_trial"] == row["trial_id"] and summary["fallback"] is None
    assert summary["pick_is_base"] is True
    report = (tmp_path / "arch" / "report.md").read_text()
    assert "pick: the base preset tiny (trained first as the reference)" in report


def test_paired_timing_puts_the_base_preset_near_its_reference_and_a_larger_net_above():
    """Timed in alternation with the reference, the reference's own network measures close to
    the reference's latency, and a network four times as wide measures slower."""
    pytest.importorskip("tensorflow")
    from components.detector.config_load import get_preset
    from components.search.latency_limit import PairedReference, reference_ms

    ms = reference_ms("tiny", 1, 64)
    reference = PairedReference("tiny", 1, 64, ms)
    tiny = get_preset("tiny").with_overrides({"num_classes": 1})
    same = reference.measure(tiny)
    assert 0.8 < same["ratio"] < 1.25 and same["median_ms"] == pytest.approx(same["ratio"] * ms)
    wide = tiny.with_overrides(
        {"backbone.cells.filters": 64, "backbone.cells.stem_width": 64, "bifpn.width": 128}
    )
    assert reference.measure(wide)["ratio"] > 1.1  # 1.3 to 2 seen, load compresses it


def test_a_trial_budget_fits_the_trials_epochs_to_its_cpu_seconds(
    tiny_examples, tmp_path, tight_space, monkeypatch
):
    """With search_trial_budget_s a trial trains as the train step trains the pick: epochs
    (at most ``epochs``) and schedule fitted to the CPU seconds; without, ``epochs`` epochs."""
    from components.training import budget

    epochs_seen = []
    original = budget.TrainingBudget.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        epochs_seen.append((epoch + 1, self.state.planned_epochs, self.model.stop_training))

    monkeypatch.setattr(budget.TrainingBudget, "on_epoch_end", on_epoch_end)
    common = dict(max_trials=1, max_latency_ms=0.0, epochs=4)
    _search(tiny_examples, tmp_path / "spent", tight_space, trial_budget_s=1e-3, **common)
    assert epochs_seen == [(1, 1, True)]  # the budget was spent by the first epoch: it stops
    epochs_seen.clear()
    _search(tiny_examples, tmp_path / "ample", tight_space, trial_budget_s=1e4, **common)
    assert [e for e, _, _ in epochs_seen] == [1, 2, 3, 4]  # the cap, reached
    assert all(planned == 4 for _, planned, _ in epochs_seen)
    epochs_seen.clear()
    _search(tiny_examples, tmp_path / "epochs", tight_space, **common)
    assert epochs_seen == []  # no budget: plain epochs


def test_cli_refuses_a_negative_trial_budget(tmp_path, capsys):
    status = cli.main(
        ["--examples", str(tmp_path), "--output", str(tmp_path / "o"), "--trial-budget-s", "-1"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err == ["error: --trial-budget-s must be a finite number >= 0, got -1.0"]
