"""A 3-trial random search end to end: outputs, a failing trial, the train step on the result."""

from __future__ import annotations

import csv
import json
import os

import pytest

from components.detector.config_load import load_architecture
from components.search import run
from components.search.cli import main
from components.search.hypermodel import DetectorHyperModel
from components.search.tuners import read_events


def _rows(out_dir) -> list[dict]:
    with open(os.path.join(out_dir, "trials.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_random_search_with_a_failing_trial_writes_everything(
    tiny_examples, tmp_path, monkeypatch, tight_space, capsys
):
    original = DetectorHyperModel.train_dataset
    calls = []

    def nan_in_second_trial(self, config, seed=None):
        dataset = original(self, config, seed)
        calls.append(config)
        if len(calls) == 2:  # poison the second trial: NaN inputs give a NaN loss
            dataset = dataset.map(lambda images, labels: (images * float("nan"), labels))
        return dataset

    monkeypatch.setattr(DetectorHyperModel, "train_dataset", nan_in_second_trial)
    out = tmp_path / "architecture"
    summary = run(
        tiny_examples,
        str(out),
        algorithm="random",
        max_trials=3,
        epochs=1,
        seed=1,
        space=tight_space,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,  # no latency limit: every trial trains (not this test's subject)
    )

    assert sorted(os.listdir(out)) == [
        "ap_vs_flops.png",
        "architecture.json",
        "hyperparameters.json",
        "report.md",
        "trials.csv",
    ]
    rows = _rows(out)
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    assert [r["status"] for r in rows] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert "loss" in rows[1]["error"] and rows[1]["AP"] == "" and rows[1]["latency_ms"] == ""
    for row in (rows[0], rows[2]):
        assert 0.0 <= float(row["AP"]) <= 1.0
        assert float(row["FLOPs"]) > 1e5 and float(row["params"]) > 1e3
        assert 0 < float(row["latency_ms"]) < 10_000 and float(row["threads"]) >= 1
        values = json.loads(row["values"])
        assert row["architecture"].startswith(f"{values['image_size']} px, width ")
        assert float(row["seconds"]) > 0
    assert summary["status_counts"] == {"COMPLETED": 2, "FAILED": 1}
    assert summary["best_trial"] in ("0", "2")
    reports = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("progress:")
    ]
    assert [r.split("  ")[0] for r in reports] == [
        "progress: trial 1/3",
        "progress: trial 2/3",
        "progress: trial 3/3",
    ]
    assert "eta 0s" in reports[-1] and "best " in reports[-1]

    config = load_architecture(str(out / "architecture.json"))
    best = rows[int(summary["best_trial"])]
    values = json.loads(best["values"])
    with open(out / "hyperparameters.json") as f:
        assert json.load(f) == values
    assert config.image_size == values["image_size"]
    assert config.bifpn.width == values["bifpn_width"]
    assert len(config.backbone.cells.reduction_blocks) == values["num_reduce_blocks"]
    assert config.num_classes == 1
    report = (out / "report.md").read_text()
    assert "| 1 | FAILED |" in report and "Pareto" in report
    with open(out / "ap_vs_flops.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    events = read_events(str(tmp_path / "architecture.work" / "search"))
    assert [e["trial_id"] for e in events if e["event"] == "end"] == ["0", "1", "2"]

    # The searched architecture is a complete config: the train step trains and exports it.
    from components.train import run as train

    trained = train(
        tiny_examples, str(out / "architecture.json"), str(tmp_path / "model"), epochs=1
    )
    assert os.path.isdir(os.path.join(trained["output_dir"], "saved_model"))


def test_reuse_architecture_skips_the_search(tiny_examples, tmp_path):
    out = tmp_path / "architecture"
    summary = run(tiny_examples, str(out), reuse_architecture="tiny")
    assert summary["trials"] == 0 and summary["reused"] == "tiny"
    config = load_architecture(str(out / "architecture.json"))
    assert config.name == "tiny" and config.num_classes == 1
    assert not (tmp_path / "architecture.work").exists()
    # A file works too, and is passed on unchanged apart from the classes of the examples.
    again = tmp_path / "again"
    run(tiny_examples, str(again), reuse_architecture=str(out / "architecture.json"))
    assert (again / "architecture.json").read_text() == (out / "architecture.json").read_text()


def _status(argv) -> int:
    """Exit status of ``main(argv)`` (usage errors exit through SystemExit, like argparse)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert _status(["--examples", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    base = ["--examples", str(tmp_path), "--output", str(tmp_path / "o")]
    assert _status([*base, "--max-trials", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert _status([*base, "--algorithm", "grid"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert _status([*base, "--reuse-architecture", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_changed_settings_on_the_same_work_dir_are_refused(tiny_examples, tmp_path, capsys):
    from components.artifacts.examples import data_fingerprint
    from components.search.step import _check_resume
    from components.search.tuners import SearchSpec

    work = tmp_path / "out.work"
    digest = data_fingerprint(tiny_examples)
    spec = SearchSpec(examples_dir=tiny_examples, directory=str(work), seed=1, data_digest=digest)
    _check_resume(spec, str(work))
    args = ["--examples", tiny_examples, "--output", str(tmp_path / "out"), "--seed", "2"]
    assert _status(args) == 2
    assert "seed" in capsys.readouterr().err


def test_seed_0_gives_a_reproducible_oracle(tiny_examples, tmp_path):
    from components.search.search_loop import make_hypermodel
    from components.search.tuners import SearchSpec, make_tuner

    def first_points(name: str) -> list[dict]:
        spec = SearchSpec(examples_dir=tiny_examples, directory=str(tmp_path / name), seed=0)
        oracle = make_tuner(spec, make_hypermodel(spec)).oracle
        return [oracle.populate_space(str(i))["values"] for i in range(3)]

    # KerasTuner replaces a falsy seed by a random one: the default seed must not be falsy.
    assert first_points("a") == first_points("b")
