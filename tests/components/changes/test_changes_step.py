"""The check-changes step: skip when the Examples, the code and the model parameters equal what
the production version was trained from; go on, saying why, in every other case."""

from __future__ import annotations

import json
import pathlib

import pytest

from components.artifacts import changes as changes_artifact
from components.artifacts import examples as examples_artifact
from components.artifacts import serving
from components.changes import cli, run
from components.changes.step import code_digest, trained_on
from components.errors import UserError

PARAMETERS = {
    "architecture": "",
    "search_max_trials": 2,
    "train_budget_s": 240.0,
    "min_ap": 0.05,
    "warm_start": "",
}


def _examples(root: pathlib.Path) -> pathlib.Path:
    """A small Examples artifact: labels, two splits of shard bytes, stats and a report."""
    (root / "Split-train").mkdir(parents=True)
    (root / "Split-test").mkdir()
    (root / "labels.json").write_text('{"classes": [{"id": 1, "name": "raccoon"}]}')
    (root / "Split-train" / "data_tfrecord-00000-of-00001.gz").write_bytes(b"train-bytes-0123")
    (root / "Split-test" / "data_tfrecord-00000-of-00001.gz").write_bytes(b"test-bytes-4567")
    (root / "stats.json").write_text('{"images": 2}')
    (root / "report.md").write_text("# Ingestion\n")
    return root


def _code(root: pathlib.Path) -> pathlib.Path:
    package = root / "fakepkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    return package


def _push(serving_root: pathlib.Path, version: int, record: dict | None) -> pathlib.Path:
    """A pushed version (``saved_model.pb`` makes it one) with ``record`` as its push.json."""
    folder = serving_root / "nasdet" / str(version)
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"pb")
    if record is not None:
        (folder / serving.PUSH_FILE).write_text(json.dumps(record))
    return folder


@pytest.fixture
def setup(tmp_path):
    """(examples, code, serving_root, check): ``check(**changes)`` runs the step against what
    version 1 records (this run's own digests, i.e. pushed from identical inputs)."""
    examples = _examples(tmp_path / "examples")
    code = _code(tmp_path / "code")
    serving_root = tmp_path / "serving"
    record = trained_on(
        examples_artifact.content_digest(str(examples)), code_digest([str(code)]), PARAMETERS
    )
    _push(serving_root, 1, {"version": 1, serving.TRAINED_ON: record})

    def check(parameters=None, force=False, root=serving_root, output="changes"):
        return run(
            examples_dir=str(examples),
            serving_root=str(root),
            model_name="nasdet",
            parameters=PARAMETERS if parameters is None else parameters,
            code_roots=[str(code)],
            output_dir=str(tmp_path / output),
            force=force,
        )

    return examples, code, serving_root, check


def test_unchanged_skips_with_the_reason_and_writes_the_artifact(setup, tmp_path):
    _, _, serving_root, check = setup
    decision = check()
    assert decision["proceed"] is False and decision["changed"] == []
    assert decision["reason"].startswith(
        f"Nothing changed since the production version 1 ({serving_root / 'nasdet' / '1'})"
    )
    assert "set force=true to retrain anyway" in decision["reason"]
    assert decision["production"] == {"version": "1", "path": str(serving_root / "nasdet" / "1")}
    written = changes_artifact.read(str(tmp_path / "changes"))
    assert written == json.loads(json.dumps(decision))
    page = (tmp_path / "changes" / changes_artifact.REPORT_FILE).read_text()
    assert "**Retrain: no: the run stops after ingest.**" in page
    assert "| search_max_trials | `2` | `2` |" in page


def test_a_changed_shard_of_the_same_size_counts_as_changed_data(setup):
    examples, _, _, check = setup
    shard = examples / "Split-train" / "data_tfrecord-00000-of-00001.gz"
    shard.write_bytes(b"train-bytes-0124")  # same size: a digest of names and sizes misses it
    decision = check()
    assert decision["proceed"] is True
    assert decision["changed"][0].startswith("the Examples (sha256:")
    assert decision["reason"].startswith("Changed since the production version 1")
    assert decision["reason"].endswith("The run retrains.")


def test_files_beside_the_data_do_not_count(setup):
    examples, _, _, check = setup
    (examples / "report.md").write_text("# Ingestion, written again at another time\n")
    (examples / "stats.json").write_text('{"images": 2, "seconds": 3.5}')
    assert check()["proceed"] is False


def test_changed_parameters_continue_and_are_named(setup, tmp_path):
    _, _, _, check = setup
    decision = check({**PARAMETERS, "search_max_trials": 3, "min_ap": 0.1})
    assert decision["proceed"] is True
    assert decision["changed"] == ["parameters: min_ap 0.05 -> 0.1, search_max_trials 2 -> 3"]
    page = (tmp_path / "changes" / changes_artifact.REPORT_FILE).read_text()
    assert "| search_max_trials (changed) | `3` | `2` |" in page


def test_a_new_parameter_counts_as_changed(setup):
    _, _, _, check = setup
    decision = check({**PARAMETERS, "image_size": 128})
    assert decision["changed"] == ["parameters: image_size (not recorded) -> 128"]


def test_numbers_compare_by_value(setup):
    _, _, _, check = setup
    # KFP may hand a float parameter's integral value as an int, and the reverse.
    assert (
        check({**PARAMETERS, "train_budget_s": 240, "search_max_trials": 2.0})["proceed"] is False
    )


def test_changed_code_continues(setup):
    _, code, _, check = setup
    (code / "__init__.py").write_text("VALUE = 2\n")
    decision = check()
    assert decision["proceed"] is True
    assert decision["changed"][0].startswith("the code (sha256:")
    (code / "__init__.py").write_text("VALUE = 1\n")
    (code / "__pycache__" / "x.pyc").write_bytes(b"other bytecode")  # not code
    assert check()["proceed"] is False


def test_no_production_continues(setup, tmp_path):
    _, _, _, check = setup
    decision = check(root=tmp_path / "empty-serving")
    assert decision["proceed"] is True and decision["production"] is None
    assert decision["reason"] == "Nothing is pushed yet: the run trains a first model."
    page = (tmp_path / "changes" / changes_artifact.REPORT_FILE).read_text()
    assert "**Retrain: yes.**" in page
    # An empty serving_root: nothing to compare with either.
    assert run_with_empty_root(setup, tmp_path)["proceed"] is True


def run_with_empty_root(setup, tmp_path):
    examples, code, _, _ = setup
    return run(str(examples), "", "nasdet", PARAMETERS, [str(code)], str(tmp_path / "e"))


def test_force_continues_when_nothing_changed(setup):
    _, _, _, check = setup
    decision = check(force=True)
    assert decision["proceed"] is True and decision["forced"] is True
    assert decision["changed"] == []
    assert "but force is set, so the run retrains anyway" in decision["reason"]
    assert check(force=False)["proceed"] is False


def test_the_newest_version_is_production(setup):
    _, _, serving_root, check = setup
    _push(serving_root, 2, {"version": 2})  # an older nasdet's push: no trained_on
    decision = check()
    assert decision["proceed"] is True and decision["changed"] == ["not recorded"]
    assert decision["production"]["version"] == "2"
    assert "records no trained_on digest" in decision["reason"]
    assert decision["reason"].endswith("Counted as changed: the run retrains.")
    # A folder without saved_model.pb is no version (a push in progress): version 2 stays.
    (serving_root / "nasdet" / "3").mkdir()
    assert check()["production"]["version"] == "2"


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "it has no push.json"), ("{not json", "cannot read "), ("[1, 2]", "not a JSON object")],
)
def test_a_production_version_without_a_readable_record_counts_as_changed(setup, content, why):
    _, _, serving_root, check = setup
    folder = _push(serving_root, 2, None)
    if content is not None:
        (folder / serving.PUSH_FILE).write_text(content)
    decision = check()
    assert decision["proceed"] is True and decision["changed"] == ["not recorded"]
    assert "version 2" in decision["reason"] and why in decision["reason"]


def test_an_object_store_serving_root(setup, object_store, tmp_path):
    examples, code, _, _ = setup
    record = trained_on(
        examples_artifact.content_digest(str(examples)), code_digest([str(code)]), PARAMETERS
    )
    object_store["memstore://bucket/models/nasdet/4/saved_model.pb"] = b"pb"
    object_store["memstore://bucket/models/nasdet/4/push.json"] = json.dumps(
        {serving.TRAINED_ON: record}
    ).encode()
    decision = run(
        str(examples), "memstore://bucket/models", "nasdet", PARAMETERS, [str(code)], str(tmp_path)
    )
    assert decision["proceed"] is False
    assert decision["production"] == {"version": "4", "path": "memstore://bucket/models/nasdet/4"}


def test_bad_input_is_a_user_error(setup, tmp_path):
    examples, code, _, check = setup
    with pytest.raises(UserError, match="is not a string, number or boolean"):
        check({"architecture": ["tiny"]})
    with pytest.raises(UserError, match="examples .* do not exist"):
        run(str(tmp_path / "none"), "", "m", {}, [str(code)], str(tmp_path / "o"))
    with pytest.raises(UserError, match="code folder .* does not exist"):
        run(str(examples), "", "m", {}, [str(tmp_path / "nocode")], str(tmp_path / "o"))


def test_the_command_line(setup, tmp_path, capsys):
    examples, code, serving_root, _ = setup
    argv = ["--examples", str(examples), "--serving-root", str(serving_root)]
    argv += ["--model-name", "nasdet", "--output", str(tmp_path / "cli"), "--code", str(code)]
    argv += ["--param", "architecture=", "--param", "search_max_trials=2"]
    argv += ["--param", "train_budget_s=240", "--param", "min_ap=0.05", "--param", "warm_start="]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith("retrain: no: Nothing changed since")
    assert cli.main([*argv, "--force"]) == 0
    assert capsys.readouterr().out.startswith("retrain: yes: Nothing changed since")
    assert cli.main([*argv, "--param", "min_ap"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --param: expected NAME=VALUE, got 'min_ap'\n"
