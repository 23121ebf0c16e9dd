"""Push records what the model was trained from (the Changes artifact's ``trained_on``), and the
next check-changes reads it back: unchanged inputs then stop the run."""

from __future__ import annotations

import json

from components.artifacts import changes as changes_artifact
from components.artifacts import serving
from components.changes import run as check
from components.push import cli
from components.push import run as push_run


def _examples(root):
    (root / "Split-train").mkdir(parents=True)
    (root / "labels.json").write_text('{"classes": [{"id": 1, "name": "raccoon"}]}')
    (root / "Split-train" / "data_tfrecord-00000-of-00001.gz").write_bytes(b"shard")
    return root


def test_a_pushed_version_records_trained_on_and_the_next_check_skips(tmp_path, model_and_blessing):
    model, blessing = model_and_blessing
    examples = _examples(tmp_path / "examples")
    code = tmp_path / "code" / "pkg"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    serving_root = tmp_path / "serving"
    params = {"search_max_trials": 2, "min_ap": 0.0}

    def changes(output: str) -> dict:
        return check(str(examples), str(serving_root), "det", params, [str(code)], output)

    first = changes(str(tmp_path / "changes1"))
    assert first["proceed"] is True and first["production"] is None
    trained_on = changes_artifact.read(str(tmp_path / "changes1"))["trained_on"]
    pushed = push_run(model, blessing, str(serving_root), "det", trained_on=trained_on)
    record = json.loads((serving_root / "det" / "1" / serving.PUSH_FILE).read_text())
    assert record[serving.TRAINED_ON] == trained_on == first["trained_on"]
    assert record[serving.TRAINED_ON]["parameters"] == params

    second = changes(str(tmp_path / "changes2"))
    assert second["proceed"] is False
    assert second["production"] == {"version": "1", "path": pushed["path"]}


def test_without_trained_on_push_records_none_and_the_check_says_so(tmp_path, model_and_blessing):
    model, blessing = model_and_blessing
    serving_root = tmp_path / "serving"
    push_run(model, blessing, str(serving_root), "det")
    record = json.loads((serving_root / "det" / "1" / serving.PUSH_FILE).read_text())
    assert serving.TRAINED_ON not in record
    examples = _examples(tmp_path / "examples")
    decision = check(str(examples), str(serving_root), "det", {}, [], str(tmp_path / "c"))
    assert decision["proceed"] is True and decision["changed"] == ["not recorded"]


def test_the_command_line_takes_the_changes_artifact(tmp_path, model_and_blessing, capsys):
    model, blessing = model_and_blessing
    examples = _examples(tmp_path / "examples")
    serving_root = tmp_path / "serving"
    check(str(examples), str(serving_root), "det", {"seed": 1}, [], str(tmp_path / "changes"))
    argv = ["--model", model, "--blessing", blessing, "--serving-root", str(serving_root)]
    argv += ["--model-name", "det"]
    assert cli.main([*argv, "--changes", str(tmp_path / "changes")]) == 0
    record = json.loads((serving_root / "det" / "1" / serving.PUSH_FILE).read_text())
    assert record[serving.TRAINED_ON]["parameters"] == {"seed": 1}
    capsys.readouterr()
    assert cli.main([*argv, "--changes", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a Changes artifact" in err and err.count("\n") == 1
    assert sorted(p.name for p in (serving_root / "det").iterdir() if p.name.isdigit()) == ["1"]
