"""``nasdet run``: usage errors, progress lines, and the whole pipeline end to end (slow)."""

from __future__ import annotations

import io
import json
import os
import pathlib
import pty
import re
import subprocess
import sys

import pytest

from pipelines import run_local
from pipelines.progress import ProgressStream

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "/no/such/annotations"], "data path /no/such/annotations does not exist"),
        (["--format", "pascal"], "argument --format: invalid choice: 'pascal'"),
        (["--format", "coco"], "--format needs --data"),
        (["--set", "min_ap=best"], "parameter min_ap needs a float"),
        (["--set", "epochs=3"], "unknown pipeline parameter 'epochs'"),
        (["--set", "min_ap=1.01"], "parameter min_ap must be in 0.0..1.0, got 1.01"),
        (["--set", "data_format=tfrecord"], "unknown format 'tfrecord'"),
        (["--preset", "huge"], "invalid choice: 'huge'"),
    ],
)
def test_bad_usage_one_line_exit_2(tmp_path, capsys, argv, message):
    assert run_local.main([*argv, "--work-dir", str(tmp_path / "w")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1
    assert not (tmp_path / "w").exists()  # nothing ran


def test_cannot_guess_format(tmp_path, capsys):
    (tmp_path / "labels").mkdir()
    assert run_local.main(["--data", str(tmp_path / "labels"), "--work-dir", str(tmp_path)]) == 2
    assert "pass --format coco|voc|yolo" in capsys.readouterr().err


def test_guess_format(tmp_path, sample_dir):
    coco = tmp_path / "instances.json"
    coco.write_text("{}")
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert run_local.guess_format(str(coco)) == "coco"
    assert run_local.guess_format(str(sample_dir / "annotations")) == "voc"
    assert run_local.guess_format(str(yolo)) == "yolo"


def test_arguments_for_the_bundled_sample(tmp_path, bundled_sample_dir):
    args = run_local._parser().parse_args(["--work-dir", str(tmp_path), "--set", "min_ap=0.5"])
    values = run_local.resolve_arguments(args)
    assert values["data_path"] == str(bundled_sample_dir / "annotations")
    assert values["images_dir"] == str(bundled_sample_dir / "images")
    assert values["data_format"] == "voc"
    assert values["serving_root"] == str(tmp_path / "serving")
    assert values["min_ap"] == 0.5
    for name, value in run_local.PRESETS["quick"].items():
        assert values[name] == value


def test_progress_lines_from_kfp_local_output():
    log, out = io.StringIO(), io.StringIO()
    stream = ProgressStream(log, out)
    stream.write("12:00:00.000 - INFO - Executing task \x1b[96m'train-model'\x1b[0m\n")
    stream.write("    Epoch 1/3\n    loss: 1.0")
    stream.write("\n12:00:01.000 - INFO - Task \x1b[96m'train-model'\x1b[0m finished with status ")
    stream.write("\x1b[92mSUCCESS\x1b[0m\n")
    stream.write("12:00:02.000 - INFO - Executing task 'evaluate-model'\n")
    stream.write("    Traceback (most recent call last):\n    ValueError: boom\n")
    stream.write("12:00:03.000 - ERROR - Task 'evaluate-model' finished with status FAILURE\n")
    lines = out.getvalue().splitlines()
    assert [re.sub(r"^\[\d\d:\d\d\] ", "", line) for line in lines] == [
        "train-model: running",
        "train-model: SUCCESS (0 s)",
        "evaluate-model: running",
        "evaluate-model: FAILURE (0 s)",
    ]
    assert stream.failed_tasks() == ["evaluate-model"]
    assert list(stream.tails["evaluate-model"])[-1] == "    ValueError: boom"
    assert "Epoch 1/3" in log.getvalue()  # the log keeps everything


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_step_progress_is_one_updating_line_on_a_terminal_and_lines_in_a_log(terminal):
    out = _Terminal() if terminal else io.StringIO()
    stream = ProgressStream(io.StringIO(), out)
    stream.write("12:00:00.000 - INFO - Executing task 'search-architecture'\n")
    stream.write("    progress: trial 1/2  score 0.1  best 0.1  eta 40s\n")
    stream.write("    progress: trial 2/2  score 0.3  best 0.3  eta 0s\n")
    stream.write("12:00:01.000 - INFO - Task 'search-architecture' finished with status SUCCESS\n")
    stream.write("12:00:02.000 - INFO - Executing task 'train-model'\n")
    stream.write("    progress: epoch 1/3  loss 1.2  val_loss 1.4  eta 10s\n")
    text = re.sub(r"\[\d\d:\d\d\] ", "", out.getvalue())
    if terminal:
        assert text == (
            "search-architecture: running\n"
            "\rsearch-architecture: trial 1/2  score 0.1  best 0.1  eta 40s\x1b[K"
            "\rsearch-architecture: trial 2/2  score 0.3  best 0.3  eta 0s\x1b[K\n"
            "search-architecture: SUCCESS (0 s)\n"
            "train-model: running\n"
            "\rtrain-model: epoch 1/3  loss 1.2  val_loss 1.4  eta 10s\x1b[K"
        )
    else:
        assert text.splitlines() == [
            "search-architecture: running",
            "search-architecture: trial 1/2  score 0.1  best 0.1  eta 40s",
            "search-architecture: trial 2/2  score 0.3  best 0.3  eta 0s",
            "search-architecture: SUCCESS (0 s)",
            "train-model: running",
            "train-model: epoch 1/3  loss 1.2  val_loss 1.4  eta 10s",
        ]


def test_each_step_has_its_own_log_without_ansi_codes_or_executor_json(tmp_path):
    stream = ProgressStream(io.StringIO(), io.StringIO(), str(tmp_path / "steps"))
    stream.write("12:00:00.000 - INFO - Executing task \x1b[96m'train-model'\x1b[0m\n")
    stream.write("    [KFP Executor 2026-12-06 12:00:00,000 INFO]: Got executor_input:\n")
    stream.write('    {\n        "inputs": {\n            "epochs": 3\n        }\n    }\n')
    stream.write("    \x1b[1mprogress: epoch 1/3\x1b[0m  loss 1.2\n")
    stream.write("12:00:01.000 - INFO - Task 'train-model' finished with status SUCCESS\n")
    stream.write("12:00:02.000 - INFO - Executing task 'evaluate-model'\n    AP 0.3\n")
    stream.close()
    logs = tmp_path / "steps"
    assert (logs / "train-model.log").read_text() == "progress: epoch 1/3  loss 1.2\n"
    assert (logs / "evaluate-model.log").read_text() == "AP 0.3\n"


def _nasdet_run(
    work_dir: pathlib.Path, data: pathlib.Path, *extra: str, terminal: bool = False
) -> subprocess.CompletedProcess:
    """Run ``nasdet run``; with ``terminal`` its stdout and stderr are one pseudo-terminal
    (``stdout`` holds what it showed, ``stderr`` is empty)."""
    argv = [sys.executable, "-m", "pipelines.cli", "run", "--work-dir", str(work_dir)]
    argv += ["--data", str(data / "annotations"), *extra]  # 50 images: the suite stays short
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if not terminal:
        return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1500, env=env)
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data_read = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal's other end has closed it
            break
        if not data_read:
            break
        chunks.append(data_read)
    os.close(master)
    returncode = proc.wait(timeout=60)
    text = b"".join(chunks).decode(errors="replace")
    return subprocess.CompletedProcess(argv, returncode, text, "")


def _versions(serving: pathlib.Path) -> list[str]:
    """The version folders (integer names) under ``serving/nasdet``."""
    if not (serving / "nasdet").is_dir():
        return []
    return sorted(p.name for p in (serving / "nasdet").iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_nasdet_run_end_to_end_push_then_refuse(tmp_path, sample_dir):
    """Run 1: the search picks the architecture, the pipeline trains it with the train step's
    recipe and the image_size parameter, and pushes it. Run 2: the gate refuses a 1-epoch model
    below its AP floor, names the rule and skips the push."""
    from components.detector.config_load import get_preset

    work = tmp_path / "work"
    first = _nasdet_run(
        work, sample_dir, "--set", "search_max_trials=1", "--set", "search_epochs=1",
        "--set", "search_screen=0",
        "--set", "train_epochs=2", "--set", "min_ap=0", "--set", "image_size=128",
        # the one trial must train whatever its measured latency on a busy machine: with a
        # limit, a trial slower than tiny hands tiny on (test_search_latency_limit.py)
        "--set", "search_max_latency_ms=0",
    )  # fmt: skip
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    for task in ("ingest-examples", "search-architecture", "train-model", "evaluate-model"):
        assert re.search(rf"\] {task}: SUCCESS", out), out
    assert re.search(r"\] push-model: SUCCESS", out), out  # the dsl.If branch ran
    assert re.search(r"^  AP +\d\.\d{4}", out, re.M), out
    # Pushed only because this run relaxes the AP floor to 0 (the model still has detections,
    # which the gate always requires).
    assert re.search(r"^  blessed +yes: ", out, re.M), out
    serving = work / "serving"
    assert _versions(serving) == ["1"]
    version_dir = serving / "nasdet" / "1"
    assert (version_dir / "saved_model.pb").is_file()
    assert f"pushed        version 1 -> {version_dir}" in out
    model = pathlib.Path(re.search(r"^  model +(\S+)$", out, re.M).group(1))
    arch = pathlib.Path(re.search(r"^  architecture +(\S+)$", out, re.M).group(1))
    recipe = get_preset("tiny").train.__dict__  # the small space's base preset
    trained = json.loads((model / "detector_config.json").read_text())
    searched = json.loads(arch.read_text())
    assert searched["backbone"]["kind"] == "cells" and searched["name"] == "searched"
    # The recipe the trial trained with (the base preset's), not the trial's 1 epoch:
    assert searched["train"] == trained["train"] == recipe
    # image_size reaches search and train: the trial trained at the size the pick trains at
    assert searched["image_size"] == trained["image_size"] == 128
    history = (model / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 2  # header + train_epochs epochs
    assert (model / "curves.png").is_file() and (version_dir / "model_card.md").is_file()
    # The steps' progress: a line per trial and per epoch (plain lines: not a terminal) ...
    assert re.search(r"\] search-architecture: trial 1/1  score ", out), out
    assert re.search(r"\] train-model: epoch 2/2  loss \S+  val_loss ", out), out
    # ... and each step's own log, without ANSI codes or the executor's JSON.
    [steps] = [p for p in (work / "logs").iterdir() if p.is_dir()]
    train_log = (steps / "train-model.log").read_text()
    assert "progress: epoch 1/2" in train_log
    assert "\x1b" not in train_log and '"parameterValues"' not in train_log
    assert f"step logs     {steps}/<step>.log" in out

    # Same data, an AP floor no 1-epoch model reaches (the default floor, 0.05, is one that a
    # 1-epoch `tiny` model sometimes meets: 0.007 to 0.059 were seen), so evaluate refuses to
    # bless and names the rule; the push branch is skipped. This run's output is a real
    # pseudo-terminal, as in a user's shell.
    second = _nasdet_run(
        work, sample_dir, "--set", "search_max_trials=1", "--set", "search_epochs=1",
        "--set", "search_screen=0",
        "--set", "search_max_latency_ms=0", "--set", "train_epochs=1", "--set", "min_ap=0.5",
        terminal=True,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:]
    out = second.stdout.replace("\r\n", "\n")  # the terminal's own line endings
    # On a terminal each step's progress is one line, rewritten in place ("\r", erase to end).
    assert re.search(r"\r\[\d\d:\d\d\] search-architecture: trial 1/1  score \S+  best ", out), out
    assert re.search(r"\r\[\d\d:\d\d\] train-model: epoch 1/1  loss \S+  val_loss \S+", out), out
    assert "\x1b[K" in out
    assert re.search(r"\] evaluate-model: SUCCESS", out), out
    assert "push-model: running" not in out and "push-model: SUCCESS" not in out
    assert re.search(r"\] push-model: skipped \(evaluate-model did not bless the model\)", out)
    assert re.search(
        r"^  blessed +no: min_ap: AP 0\.\d{4} \(95 % interval [^)]*\) is below the minimum AP "
        r"0\.5000",
        out,
        re.M,
    ), out
    assert "pushed        no" in out
    assert _versions(serving) == ["1"]  # nothing new was pushed
    runs = sorted((work / "pipeline_root").iterdir())
    assert len(runs) == 2
    assert (runs[0] / "push-model" / "pushed_model").is_file()
    assert not (runs[1] / "push-model").exists()


@pytest.mark.slow
def test_failed_step_exit_1_with_its_output(tmp_path):
    """A step that fails (ingest of an empty COCO file) stops the run: exit 1, its last lines."""
    coco = tmp_path / "instances.json"
    coco.write_text("{}")
    argv = [sys.executable, "-m", "pipelines.cli", "run", "--work-dir", str(tmp_path / "w")]
    argv += ["--data", str(coco)]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ingest-examples: FAILURE" in result.stdout
    assert "search-architecture: running" not in result.stdout
    assert "error: ingest-examples failed; its last output lines:" in result.stderr
    assert "  | " in result.stderr  # the step's own output
    assert re.search(r"full log: .*run-.*\.log\)$", result.stderr.strip())


def test_summary_names_the_failed_rule_first():
    blessing = {
        "blessed": False,
        "failed": ["per_class"],
        "reasons": [
            "AP 0.3000 meets the minimum AP 0.0500.",
            "AP 0.3000 improves on the baseline AP 0.2500 (tolerance 0.0100, floor 0.2400).",
            "per_class: 1 class(es) lost more than 0.0500 AP against the baseline: dog 0.6 -> 0.3.",
        ],
    }
    assert run_local._reasons(blessing).startswith("per_class: 1 class(es) lost")


def test_summary_of_a_run_stopped_by_the_check(tmp_path):
    reason = "Nothing changed since the production version 1 (/s/nasdet/1): the same Examples."
    results = {
        "metrics": {},
        "blessing": {},
        "pushed": None,
        "changes": {
            "proceed": False,
            "reason": reason,
            "production": {"version": "1", "path": "/s/nasdet/1", "pod_path": "/mnt/s/nasdet/1"},
        },
    }
    assert run_local.stopped_early(results)
    text = run_local.format_summary(results, 75.0, str(tmp_path / "run.log"))
    assert text.splitlines() == [
        "nasdet run stopped early after check-changes in 1m15s: nothing to retrain (search, "
        "train, evaluate and push did not run)",
        f"  changes       {reason}",
        "  production    version 1 -> /s/nasdet/1 (/mnt/s/nasdet/1 in the pods)",
        f"  full log      {tmp_path / 'run.log'}",
    ]
    results["changes"]["proceed"] = True
    assert not run_local.stopped_early(results)
    results.update(architecture="a", model="m", report=str(tmp_path / "none.html"))
    text = run_local.format_summary(results, 75.0, str(tmp_path / "run.log"))
    assert text.splitlines()[:2] == ["nasdet run finished in 1m15s", f"  changes       {reason}"]
