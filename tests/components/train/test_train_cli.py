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


def test_bad_cpu_threads(capsys, tmp_path):
    argv = ["--examples", str(tmp_path), "--architecture", "tiny", "--output", "o"]
    code, err = _run([*argv, "--cpu-threads", "-1"], capsys)
    assert code == 2 and "0 or a positive integer" in err and len(err.strip().splitlines()) == 1


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


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_truncated_shard_is_a_one_line_error_naming_it(capsys, tmp_path, overfit_examples, split):
    import shutil

    examples = shutil.copytree(overfit_examples, tmp_path / "ex")
    shard = next((examples / f"Split-{split}").iterdir())
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    argv = ["--examples", str(examples), "--architecture", "tiny", "--output", str(tmp_path / "m")]
    code, err = _run(argv, capsys)
    assert code == 2 and not (tmp_path / "m").exists()
    assert err.startswith(f"error: Examples shard {shard} is damaged (truncated record at ")
    assert len(err.strip().splitlines()) == 1
