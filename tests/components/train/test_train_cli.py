"""``nasdet train`` command line: bad input is a one-line ``error: ...`` and exit status 2."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tensorflow")

from components.train.cli import main  # noqa: E402


def _run(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_missing_required_option(capsys, tmp_path):
    code, err = _run(["--examples", str(tmp_path)], capsys)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_bad_epochs(capsys, tmp_path):
    code, err = _run(
        ["--examples", str(tmp_path), "--architecture", "tiny", "--output", "o", "--epochs", "0"],
        capsys,
    )
    assert code == 2 and "positive integer" in err


def test_examples_dir_missing(capsys, tmp_path):
    out = tmp_path / "model"
    code, err = _run(
        ["--examples", str(tmp_path / "nope"), "--architecture", "tiny", "--output", str(out)],
        capsys,
    )
    assert code == 2 and err.startswith("error: ") and "nope" in err
    assert not out.exists()


def test_unknown_preset_and_bad_json(capsys, tmp_path, overfit_examples):
    out = tmp_path / "model"
    code, err = _run(
        ["--examples", str(overfit_examples), "--architecture", "d99", "--output", str(out)], capsys
    )
    assert code == 2 and "d99" in err
    bad = tmp_path / "architecture.json"
    bad.write_text(json.dumps({"bifpn": {"widht": 3}}))
    code, err = _run(
        ["--examples", str(overfit_examples), "--architecture", str(bad), "--output", str(out)],
        capsys,
    )
    assert code == 2 and "widht" in err
    assert not out.exists()


def test_examples_without_labels(capsys, tmp_path):
    (tmp_path / "ex").mkdir()
    code, err = _run(
        [
            "--examples",
            str(tmp_path / "ex"),
            "--architecture",
            "tiny",
            "--output",
            str(tmp_path / "m"),
        ],
        capsys,
    )
    assert code == 2 and "labels.json" in err


def test_warm_start_not_a_model(capsys, tmp_path, overfit_examples):
    out = tmp_path / "model"
    code, err = _run(
        [
            "--examples",
            str(overfit_examples),
            "--architecture",
            "tiny",
            "--output",
            str(out),
            "--warm-start",
            str(tmp_path),
            "--epochs",
            "1",
        ],
        capsys,
    )
    assert code == 2 and "--warm-start" in err and "not a Model artifact" in err
    assert not out.exists()


def test_bad_budget_and_examples_of_the_old_layout(capsys, tmp_path, overfit_examples):
    base = ["--architecture", "tiny", "--output", str(tmp_path / "model")]
    code, err = _run(["--examples", str(overfit_examples), *base, "--budget-s", "-5"], capsys)
    assert code == 2 and "positive number of seconds" in err
    old = tmp_path / "old"
    (old / "Split-train").mkdir(parents=True)
    (old / "Split-eval").mkdir()
    (old / "labels.json").write_text((overfit_examples / "labels.json").read_text())
    code, err = _run(["--examples", str(old), *base], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no Split-val" in err and "ingest the data again" in err
