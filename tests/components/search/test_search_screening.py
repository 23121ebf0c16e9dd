"""Screening: sampled architectures scored untrained, over-limit ones dropped, the top-k
trained first by the tuner."""

from __future__ import annotations

import csv
import json

import pytest

from components.errors import UserError
from components.search import cli
from components.search.tuners import SearchSpec

pytest.importorskip("tensorflow")


@pytest.fixture
def hypermodel(tiny_examples, tight_space):
    from components.search.search_loop import make_hypermodel

    return make_hypermodel(SearchSpec(examples_dir=tiny_examples, directory="d", space=tight_space))


@pytest.fixture
def linear_latency(monkeypatch):
    """A measured latency that is exactly linear in multiply-adds and layers (so the fit on
    the timed candidates predicts the others exactly); counts the timings."""
    from components.detector.flops import count_macs
    from components.search import latency_limit, screening

    timed = []

    def measure(config, serving_size=0, detector=None):
        if detector is None:  # a trial times its candidate built afresh
            from components.detector.model import build_detector

            detector = build_detector(latency_limit.at_serving_size(config, serving_size))
        ms = 1.0 + 2.0 * count_macs(detector) / 1e6 + 0.01 * screening._layer_count(detector)
        timed.append(ms)
        return {"median_ms": ms, "p90_ms": ms, "runs": 1, "threads": 2}

    monkeypatch.setattr(latency_limit, "measure", measure)
    monkeypatch.setattr(screening, "LATENCY_SAMPLES", 3)
    return timed


def test_sampling_is_deterministic_and_distinct(hypermodel):
    from components.search.screening import sample_values

    first = sample_values(hypermodel, 6, seed=4)
    assert first == sample_values(hypermodel, 6, seed=4)
    assert len({json.dumps(v, sort_keys=True) for v in first}) == 6
    assert first != sample_values(hypermodel, 6, seed=5)


def test_screen_drops_over_the_limit_and_selects_the_top_k_by_the_proxy(hypermodel, linear_latency):
    from components.search.screening import MEASURED, PREDICTED, SELECT_MARGIN, screen

    everything, _ = screen(hypermodel, 6, top=2, proxy="params", limit_ms=None, seed=4)
    slowest = max(c.latency_ms for c in everything)
    second = sorted(c.latency_ms for c in everything)[-2]
    limit = (second + 1e-6) / SELECT_MARGIN  # with the timing-noise margin: drops the slowest
    candidates, summary = screen(hypermodel, 6, top=2, proxy="params", limit_ms=limit, seed=4)
    assert len(linear_latency) == 6  # 3 timed per screening, the others predicted
    assert [c.latency_source for c in candidates].count(MEASURED) == 3
    assert [c.latency_source for c in candidates].count(PREDICTED) == 3
    assert summary["latency_fit_mae_ms"] == pytest.approx(0.0, abs=1e-6)
    for c in candidates:
        assert all(name in c.scores for name in ("params", "naswot", "synflow"))
        assert c.scores["params"] == c.params
    over = [c for c in candidates if c.over_limit]
    assert [c.latency_ms for c in over] == [pytest.approx(slowest)] and over[0].rank == 0
    within = sorted((c for c in candidates if not c.over_limit), key=lambda c: -c.params)
    chosen = [c for c in candidates if c.selected]
    assert chosen == within[:2] and [c.rank for c in chosen] == [1, 2]
    assert summary["selected"] == 2 and summary["over_limit"] == 1 and summary["sampled"] == 6
    # Just under the limit is not enough: a trial would time it again and might refuse it.
    _, tight = screen(hypermodel, 6, top=2, proxy="params", limit_ms=second + 1e-6, seed=4)
    assert tight["over_limit"] >= 2


@pytest.mark.slow
def test_the_tuner_trains_the_screened_candidates_first(
    tiny_examples, tmp_path, tight_space, linear_latency
):
    from components.search.step import run

    summary = run(
        tiny_examples,
        str(tmp_path / "arch"),
        algorithm="random",
        max_trials=2,
        epochs=1,
        seed=1,
        space=tight_space,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,
        screen=5,
        proxy="synflow",
    )
    out = tmp_path / "arch"
    with open(out / "screening.csv") as f:
        screened = list(csv.DictReader(f))
    selected = sorted((r for r in screened if r["selected"] == "yes"), key=lambda r: int(r["rank"]))
    assert len(screened) == 5 and len(selected) == 2
    synflow = [float(r["synflow"]) for r in screened]
    assert [float(r["synflow"]) for r in selected] == sorted(synflow, reverse=True)[:2]
    with open(out / "trials.csv") as f:
        trials = list(csv.DictReader(f))
    assert [json.loads(t["values"]) for t in trials] == [json.loads(r["values"]) for r in selected]
    assert summary["screening"]["proxy"] == "synflow" and summary["screening"]["selected"] == 2
    report = (out / "report.md").read_text()
    assert "## Screening" in report and "Ranked by `synflow`, the best 2" in report


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--proxy", "zen"], "invalid choice: 'zen'"),
        (["--screen", "-1"], "expected an integer >= 0"),
    ],
)
def test_cli_refuses_bad_screening_options(argv, message, capsys):
    status = cli.main(["--examples", "e", "--output", "o", *argv])
    assert status == 2 and message in capsys.readouterr().err


def test_pipeline_parameters_refuse_bad_screening_values():
    from pipelines import parameter_values

    assert parameter_values.convert("search_proxy", "naswot") == "naswot"
    assert parameter_values.convert("search_screen", "300") == 300
    with pytest.raises(UserError, match=r"^parameter search_proxy: unknown score 'zen'"):
        parameter_values.convert("search_proxy", "zen")
    with pytest.raises(UserError, match="search_screen must be in 0"):
        parameter_values.convert("search_screen", "-1")
    with pytest.raises(UserError, match="unknown zero-cost score"):
        SearchSpec(examples_dir="e", directory="d", proxy="zen")
