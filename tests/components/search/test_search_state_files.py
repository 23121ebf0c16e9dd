"""A search killed while KerasTuner writes its state leaves the previous state readable."""

from __future__ import annotations

import json
import os

import keras_tuner
import pytest

from components import files
from components.errors import UserError
from components.search.step import SPEC_FILE, _check_resume
from components.search.tuners import _ALGORITHMS, ScreenedRandomOracle, SearchSpec


class Killed(BaseException):
    """Stands for the process being killed mid-write."""


def _oracle(directory: str) -> ScreenedRandomOracle:
    oracle = ScreenedRandomOracle(
        objective=keras_tuner.Objective("score", direction="max"), max_trials=5, seed=3
    )
    oracle._set_project_dir(directory, "search")
    hp = keras_tuner.HyperParameters()
    hp.Int("width", 8, 64, step=8)
    oracle.update_space(hp)
    return oracle


def _killed_half_way(monkeypatch, name: str = "") -> None:
    """Writes of a file whose name contains ``name`` stop half way, killed."""
    write_bytes = files.write_bytes

    def write_half(path: str, data: bytes) -> None:
        if name not in os.path.basename(path):
            write_bytes(path, data)
            return
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise Killed

    monkeypatch.setattr(files, "write_bytes", write_half)


def _tree(directory) -> dict[str, object]:
    """Every file below ``directory``: parsed when JSON, else its size."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            found[os.path.relpath(path, directory)] = (
                json.loads(data) if name.endswith(".json") else len(data)
            )
    return found


@pytest.mark.parametrize(
    "killed, step",
    [
        ("oracle.json", lambda oracle, first: oracle.create_trial("tuner1")),
        ("trial.json", lambda oracle, first: oracle.update_trial(first.trial_id, {"score": 0.5})),
    ],
    ids=["oracle-file", "trial-file"],
)
def test_a_kill_while_the_oracle_writes_keeps_the_previous_file(
    killed, step, tmp_path, monkeypatch
):
    oracle = _oracle(str(tmp_path))
    first = oracle.create_trial("tuner0")
    before = _tree(tmp_path)

    _killed_half_way(monkeypatch, name=killed)
    with pytest.raises(Killed):
        step(oracle, first)
    monkeypatch.undo()

    after = _tree(tmp_path)  # every JSON file parses
    assert not [path for path in after if ".tmp-" in path]
    for path, content in after.items():
        if os.path.basename(path) == killed:
            assert content == before[path]  # the file being written is the old one
    resumed = _oracle(str(tmp_path))
    resumed.reload()
    assert resumed.trials[first.trial_id].hyperparameters.values == first.hyperparameters.values
    assert resumed.trials[first.trial_id].score is None


def test_a_trial_killed_before_the_oracle_recorded_its_start_runs_again(tmp_path, monkeypatch):
    """A kill between a new trial's trial.json (RUNNING) and oracle.json: the resumed oracle
    runs that trial again before any new one, as it does with a trial it knew was running."""
    oracle = _oracle(str(tmp_path))
    first = oracle.create_trial("tuner0")
    first.status = "COMPLETED"
    oracle.update_trial(first.trial_id, {"score": 0.5})
    oracle.end_trial(first)
    oracle.save()

    _killed_half_way(monkeypatch, name="oracle.json")
    with pytest.raises(Killed):
        oracle.create_trial("tuner0")  # its trial.json is written, oracle.json is not
    monkeypatch.undo()

    resumed = _oracle(str(tmp_path))
    resumed.reload()
    lost = next(t for t in resumed.trials.values() if t.status == "RUNNING")
    again = resumed.create_trial("tuner0")
    assert (again.trial_id, again.status) == (lost.trial_id, "RUNNING")
    again.status = "COMPLETED"
    resumed.update_trial(again.trial_id, {"score": 0.7})
    resumed.end_trial(again)
    assert sorted(t.status for t in resumed.trials.values()) == ["COMPLETED", "COMPLETED"]
    assert resumed.create_trial("tuner0").trial_id not in {first.trial_id, lost.trial_id}


@pytest.mark.parametrize("algorithm", sorted(_ALGORITHMS))
def test_a_kill_during_the_tuner_save_keeps_its_previous_file(algorithm, tmp_path, monkeypatch):
    tuner_class, _ = _ALGORITHMS[algorithm]
    tuner = tuner_class(_oracle(str(tmp_path)), hypermodel=lambda hp: None, directory=str(tmp_path))
    tuner.save()
    tuner_file = tuner._get_tuner_fname()
    with open(tuner_file) as f:
        before = json.load(f)

    _killed_half_way(monkeypatch, name=os.path.basename(tuner_file))
    with pytest.raises(Killed):
        tuner.save()
    monkeypatch.undo()

    with open(tuner_file) as f:
        assert json.load(f) == before


@pytest.mark.parametrize(
    "name, text",
    [
        (SPEC_FILE, '{"examples_dir": '),
        ("search/oracle.json", ""),
        ("search/trial_0/trial.json", "{"),
    ],
)
def test_a_state_file_cut_short_earlier_is_a_one_line_error_naming_it(name, text, tmp_path):
    """A working folder left by a release that did not write atomically: refused before the
    search reads it, naming the folder as the user gave it and the file; nothing overwritten."""
    spec = SearchSpec(examples_dir=str(tmp_path / "examples"), directory=str(tmp_path / "work"))
    path = tmp_path / "work" / name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(UserError) as refused:
        _check_resume(spec, "gs://bucket/work")
    message = str(refused.value)
    assert "\n" not in message
    assert f"gs://bucket/work holds a search whose {name} cannot be read" in message
    assert path.read_text() == text


def test_a_file_not_read_on_resume_may_be_cut_short(tmp_path):
    """KerasTuner's build_config.json (written after a trial's fit, read only to load a model)
    does not stop a resume."""
    spec = SearchSpec(examples_dir=str(tmp_path / "examples"), directory=str(tmp_path / "work"))
    trial = tmp_path / "work" / "search" / "trial_0"
    trial.mkdir(parents=True)
    (trial / "build_config.json").write_text('{"input_shape": ')
    (trial / "trial.json").write_text("{}")
    assert _check_resume(spec, str(tmp_path / "work")) is None
