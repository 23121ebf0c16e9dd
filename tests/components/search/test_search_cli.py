"""The search command line: its defaults and choices come from the step's own definitions."""

from __future__ import annotations

import inspect

import pytest

from components import tuner_settings
from components.search import cli, space, step, tuners


def _actions() -> dict:
    return {a.dest: a for a in cli.build_parser()._actions}


def test_cli_defaults_are_the_step_defaults():
    actions = _actions()
    for name, value in vars(tuner_settings.STEP).items():
        assert actions[name].default == value, name


def test_run_defaults_are_the_step_defaults():
    signature = inspect.signature(step.run)
    for name, value in vars(tuner_settings.STEP).items():
        assert signature.parameters[name].default == value, name


def test_cli_choices_are_the_step_registries():
    actions = _actions()
    assert tuple(actions["algorithm"].choices) == tuners.ALGORITHMS
    assert tuple(actions["objective"].choices) == tuners.OBJECTIVES
    assert tuple(actions["space"].choices) == tuple(space.SPACES)


@pytest.mark.parametrize("settings", [tuner_settings.STEP, tuner_settings.PIPELINE])
def test_defaults_are_valid_choices(settings):
    assert settings.algorithm in tuners.ALGORITHMS
    assert settings.objective in tuners.OBJECTIVES
    assert settings.space in space.SPACES
    for name, low in tuner_settings.MIN.items():
        assert getattr(settings, name) >= low, name
    low, high = tuner_settings.LATENCY_WEIGHT_RANGE
    assert low <= settings.latency_weight <= high


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-trials", "0"], "expected an integer >= 1"),
        (["--workers", "-1"], "expected an integer >= 0"),
        (["--algorithm", "grid"], "invalid choice"),
        (["--space", "huge"], "invalid choice"),
    ],
)
def test_cli_refuses_out_of_range_and_unknown_choices(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["--examples", "e", "--output", "o", *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
