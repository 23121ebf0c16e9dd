"""Push: growing versions, refusals, --keep, interrupted pushes, the command line."""

from __future__ import annotations

import json
import os

import pytest

from components import files
from components.errors import UserError
from components.push import cli, push, versions
from components.push import run as push_run


def _tree(root) -> dict[str, bytes]:
    """Every file below ``root`` (relative path -> bytes), hidden ones included."""
    return {rel: files.read_bytes(os.path.join(root, rel)) for rel in files.walk_files(str(root))}


def test_versions_grow_and_hold_a_servable_model(tmp_path, model_and_blessing):
    import numpy as np
    import tensorflow as tf

    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    got = [push_run(model, blessing, str(serving), "det")["version"] for _ in range(3)]
    assert got == [1, 2, 3]
    names = sorted(n for n in os.listdir(serving / "det") if not n.startswith("."))
    assert names == ["1", "2", "3"]
    v3 = serving / "det" / "3"
    assert {
        "saved_model.pb",
        "variables",
        "labels.json",
        "detector_config.json",
        "push.json",
    } <= set(os.listdir(v3))
    record = json.loads((v3 / "push.json").read_text())
    assert record["version"] == 3 and record["source_model"] == model
    assert record["metrics"] == {"AP": 0.5, "AP50": 0.8}
    assert record["data_fingerprint"] == "sha256:" + "ab" * 32
    assert record["pushed_at"].endswith("+00:00")
    serve = tf.saved_model.load(str(v3)).signatures["serving_default"]
    boxes = serve(images=tf.zeros([2, 8, 8, 3], tf.uint8))["detection_boxes"].numpy()
    np.testing.assert_allclose(boxes, 0.25)
    # no temporary directories are left behind
    assert [n for n in os.listdir(serving / "det") if n.startswith(".tmp")] == []


def test_not_blessed_is_refused_and_nothing_written(tmp_path, other_model, capsys):
    model, _, not_blessed = other_model
    serving = tmp_path / "serving"
    with pytest.raises(UserError, match="not blessed"):
        push_run(model, not_blessed, str(serving), "det")
    assert not serving.exists()
    argv = ["--model", model, "--blessing", not_blessed, "--serving-root", str(serving)]
    assert cli.main([*argv, "--model-name", "det"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to push") and "AP too low." in err
    assert err.count("\n") == 1
    assert not serving.exists()


def test_blessing_of_another_model_is_refused(tmp_path, model_and_blessing, other_model):
    model, _ = model_and_blessing
    _, other_blessing, _ = other_model
    with pytest.raises(UserError, match="blesses another model"):
        push_run(model, other_blessing, str(tmp_path / "serving"), "det")
    assert not (tmp_path / "serving").exists()


def test_keep_removes_only_the_oldest_and_numbers_are_never_reused(tmp_path, model_and_blessing):
    model, blessing = model_and_blessing
    root = tmp_path / "serving" / "det"
    for _ in range(3):
        push_run(model, blessing, str(tmp_path / "serving"), "det")
    v3_before = _tree(root / "3")
    result = push_run(model, blessing, str(tmp_path / "serving"), "det", keep=2)
    assert result["version"] == 4 and result["pruned"] == [1, 2]
    assert versions.integer_versions(str(root)) == [3, 4]
    assert _tree(root / "3") == v3_before  # the survivors are untouched
    # Even after the newest versions are deleted by hand, numbers keep growing.
    for name in ("3", "4"):
        import shutil

        shutil.rmtree(root / name)
    assert push_run(model, blessing, str(tmp_path / "serving"), "det")["version"] == 5


def test_interrupted_before_rename_leaves_serving_root_as_it_was(
    tmp_path, model_and_blessing, monkeypatch
):
    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    push_run(model, blessing, str(serving), "det")
    before = _tree(serving)

    def crash(src, dst):
        raise KeyboardInterrupt("killed just before the rename")

    monkeypatch.setattr(push.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        push_run(model, blessing, str(serving), "det")
    monkeypatch.undo()
    assert _tree(serving) == before
    assert sorted(os.listdir(serving / "det")) == [".last_version", "1"]


def test_interrupted_while_copying_leaves_serving_root_as_it_was(
    tmp_path, model_and_blessing, monkeypatch
):
    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    push_run(model, blessing, str(serving), "det")
    before = _tree(serving)
    real_copy = push.files.copy_tree

    def half_copy(src, dst, skip=(), last=()):
        real_copy(src, dst, skip, last)
        raise OSError("disk full")

    monkeypatch.setattr(push.files, "copy_tree", half_copy)
    with pytest.raises(OSError, match="disk full"):
        push_run(model, blessing, str(serving), "det")
    assert _tree(serving) == before


def test_cli_pushes_and_keeps(tmp_path, model_and_blessing, capsys):
    model, blessing = model_and_blessing
    serving = str(tmp_path / "serving")
    argv = [
        "--model",
        model,
        "--blessing",
        blessing,
        "--serving-root",
        serving,
        "--model-name",
        "det",
    ]
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--keep", "1"]) == 0
    out = capsys.readouterr().out
    assert "pushed version 2" in out and "removed old versions 1" in out
    assert cli.main([*argv, "--keep", "0"]) == 2
    assert "--keep must be at least 1" in capsys.readouterr().err
    # the Evaluation directory is accepted in place of its blessing.json
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    os.rename(blessing, evaluation / "blessing.json")
    assert cli.main([*argv[:2], "--blessing", str(evaluation), *argv[4:]]) == 0
    assert versions.integer_versions(os.path.join(serving, "det")) == [2, 3]


def test_push_to_an_object_store_uri(model_and_blessing, object_store):
    from components.artifacts import serving

    model, blessing = model_and_blessing
    root = "memstore://bucket/serving"
    first = push_run(model, blessing, root, "det")
    second = push_run(model, blessing, root, "det", keep=1)
    assert (first["version"], second["version"], second["pruned"]) == (1, 2, [1])
    assert versions.integer_versions(f"{root}/det") == [2]
    assert versions.read_marker(f"{root}/det") == 2
    names = sorted(name[len(f"{root}/det/") :] for name in object_store)
    assert "2/saved_model.pb" in names and "2/variables/variables.index" in names
    assert "2/labels.json" in names and "2/detector_config.json" in names
    assert json.loads(object_store[f"{root}/det/2/push.json"])["version"] == 2
    assert not [n for n in names if n.startswith(".tmp") or n.startswith("1/")]
    newest = serving.newest_version(root, "det")
    assert newest is not None and newest.root == f"{root}/det/2"


_SLOW_PUSH = """
import sys, time
from components import files
real_copy = files.copy
def slow_copy(src, dst):
    print("copying", flush=True)
    time.sleep(0.5)
    real_copy(src, dst)
files.copy = slow_copy
from components.push.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_push_killed_with_sigterm_leaves_serving_root_as_it_was(tmp_path, model_and_blessing):
    import pathlib
    import signal
    import subprocess
    import sys

    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    push_run(model, blessing, str(serving), "det")
    before = _tree(serving)
    argv = ["--model", model, "--blessing", blessing, "--serving-root", str(serving)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_PUSH, *argv, "--model-name", "det"],
        cwd=pathlib.Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "copying"  # the push is under way
    assert any(n.startswith(".tmp-push-") for n in os.listdir(serving / "det"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "error: interrupted" in err
    assert _tree(serving) == before


def test_stale_temporaries_of_killed_pushes_are_removed(tmp_path, model_and_blessing):
    model, blessing = model_and_blessing
    root = tmp_path / "serving" / "det"
    (root / ".tmp-push-old" / "variables").mkdir(parents=True)
    (root / ".tmp-push-young").mkdir()
    old = os.path.getmtime(root) - 2 * push.STALE_SECONDS
    os.utime(root / ".tmp-push-old", (old, old))
    push_run(model, blessing, str(tmp_path / "serving"), "det")
    assert sorted(os.listdir(root)) == [".last_version", ".tmp-push-young", "1"]
