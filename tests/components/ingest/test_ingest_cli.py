"""``nasdet ingest`` / ``python -m components.ingest``: success line, refusals with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from components.ingest.cli import main
from pipelines.cli import main as nasdet_main


def _no_output(tmp_path, out) -> None:
    assert not out.exists()
    assert not [p for p in os.listdir(out.parent) if p.startswith(f".{out.name}")]


def test_cli_success_prints_summary(sample_dir, tmp_path, capsys):
    """Also: ``--beam-arg VALUE`` with a space works, and the running-mode line is printed."""
    out = tmp_path / "examples"
    status = nasdet_main(
        [
            "ingest",
            "--input",
            str(sample_dir / "annotations"),
            "--format",
            "voc",
            "--output",
            str(out),
            "--val-fraction",
            "0.2",
            "--test-fraction",
            "0.2",
            "--beam-arg",
            "--direct_running_mode=in_memory",
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert "DirectRunner in_memory, 1 worker(s) (from --beam-arg)" in captured.err
    line = captured.out.strip().splitlines()[-1]
    assert line.startswith("ingest: 50 images accepted, 0 quarantined; 53 boxes accepted")
    assert "splits: train 27, val 17, test 6;" in line and str(out) in line
    assert (out / "stats.json").exists() and (out / "labels.json").exists()


def test_python_dash_m_unknown_format(tmp_path):
    out = tmp_path / "examples"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.ingest",
            "--input",
            str(tmp_path),
            "--format",
            "pascal",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: argument --format: invalid choice: 'pascal'")
    assert len(proc.stderr.strip().splitlines()) == 1
    _no_output(tmp_path, out)


@pytest.mark.parametrize(
    "case",
    [
        "coco_missing_file",
        "coco_unparsable",
        "coco_empty",
        "coco_duplicate_ids",
        "voc_missing_folder",
        "voc_empty",
        "yolo_empty",
    ],
)
def test_refusals_exit_2_with_one_line_and_no_output(broken_corpus, tmp_path, capsys, case):
    fmt, input_path, images, classes, message = broken_corpus.make_refusal_case(
        tmp_path / "in", case
    )
    out = tmp_path / "nested" / "examples"
    argv = ["--input", input_path, "--format", fmt, "--output", str(out)]
    argv += ["--images", images] if images else []
    argv += ["--classes", classes] if classes else []
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists() and not (tmp_path / "nested").exists()


def test_bad_fraction_and_unknown_runner(sample_dir, tmp_path, capsys):
    out = tmp_path / "examples"
    base = ["--input", str(sample_dir / "annotations"), "--format", "voc", "--output", str(out)]
    assert main([*base, "--test-fraction", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("error: --test-fraction must be in [0, 1)")
    assert main([*base, "--beam-arg=--runner=NoSuchRunner"]) == 2
    assert capsys.readouterr().err.startswith("error: --beam-arg --runner=NoSuchRunner")
    assert main([*base, "--beam-arg", "--runner", "--beam-arg", "NoSuchRunner"]) == 2
    assert capsys.readouterr().err.startswith("error: --beam-arg --runner=NoSuchRunner")
    _no_output(tmp_path, out)


def test_all_images_quarantined_is_refused(broken_corpus, tmp_path, capsys):
    corpus = broken_corpus.make_coco_case(tmp_path / "in", "truncated_jpeg")
    (tmp_path / "in" / "images" / "good.jpg").unlink()  # now no image is usable
    out = tmp_path / "examples"
    assert (
        main(
            [
                "--input",
                corpus.input_path,
                "--images",
                corpus.images_dir,
                "--format",
                "coco",
                "--output",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("error: no image passed validation")
        and "missing image file (1)" in err[-1]
    )
    _no_output(tmp_path, out)


def test_existing_output_is_replaced_only_on_success(sample_dir, tmp_path, broken_corpus):
    out = tmp_path / "examples"
    out.mkdir()
    (out / "old.txt").write_text("old")
    fmt, input_path, _, _, _ = broken_corpus.make_refusal_case(tmp_path / "in", "coco_unparsable")
    assert main(["--input", input_path, "--format", fmt, "--output", str(out)]) == 2
    assert (out / "old.txt").read_text() == "old"
    assert (
        main(["--input", str(sample_dir / "annotations"), "--format", "voc", "--output", str(out)])
        == 0
    )
    assert not (out / "old.txt").exists() and (out / "stats.json").exists()
