"""A search killed while KerasTuner writes its state leaves the previous state readable."""

from __future__ import annotations

import json
import os

import keras_tuner
import pytest

from components import files
from components.errors import UserError
from components.search.step import SPEC_FILE, _check_resume
from components.search.tuners import _ALGORITHMS, ScreenedRandomOracle, SearchSpec, make_tuner


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


def test_a_kill_during_the_oracle_save_keeps_the_previous_state(tmp_path, monkeypatch):
    oracle = _oracle(str(tmp_path))
    first = oracle.create_trial("tuner0")
    oracle_file = os.path.join(oracle._project_dir, "oracle.json")
    trial_file = os.path.join(oracle._project_dir, f"trial_{first.trial_id}", "trial.json")
    with open(oracle_file) as f:
        before = json.load(f)
    with open(trial_file) as f:
        trial_before = json.load(f)

    _killed_half_way(monkeypatch)
    with pytest.raises(Killed):
        oracle.create_trial("tuner1")  # saves the new trial, then the oracle
    monkeypatch.undo()

    with open(oracle_file) as f:
        assert json.load(f) == before
    with open(trial_file) as f:
        assert json.load(f) == trial_before
    assert not [n for n in os.listdir(oracle._project_dir) if ".tmp-" in n]
    resumed = _oracle(str(tmp_path))
    resumed.reload()
    assert first.trial_id in resumed.trials
    assert resumed.trials[first.trial_id].hyperparameters.values == first.hyperparameters.values


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


def test_a_state_file_cut_short_earlier_is_a_one_line_error_naming_the_folder(tmp_path):
    """A working folder left by a release that did not write atomically: refused, not a
    traceback, and nothing in it is overwritten."""
    spec = SearchSpec(examples_dir=str(tmp_path / "examples"), directory=str(tmp_path / "work"))
    project = tmp_path / "work" / "search"
    project.mkdir(parents=True)
    (project / "tuner0.json").write_text("{}")
    (project / "oracle.json").write_text("")
    with pytest.raises(UserError, match=f"{tmp_path / 'work'} holds a search whose saved state"):
        make_tuner(spec, hypermodel=lambda hp: None)
    assert (project / "oracle.json").read_text() == ""

    (tmp_path / "work" / SPEC_FILE).write_text('{"examples_dir": ')
    with pytest.raises(UserError, match=f"{SPEC_FILE} cannot be read"):
        _check_resume(spec, "gs://bucket/work")
    assert (tmp_path / "work" / SPEC_FILE).read_text() == '{"examples_dir": '
