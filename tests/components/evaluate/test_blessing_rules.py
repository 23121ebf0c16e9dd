"""The blessing rules object is the one source of the rules' defaults and ranges."""

from __future__ import annotations

import dataclasses

import pytest

from components import blessing_rules
from components.blessing_rules import DEFAULT_RULES, BlessingRules
from components.errors import UserError
from components.evaluate import cli
from pipelines import parameter_values, parameters


def test_every_rule_has_a_cli_option_with_its_default():
    actions = {a.dest: a for a in cli.build_parser()._actions}
    for field in blessing_rules.rule_fields():
        action = actions[field.name]
        assert action.option_strings == ["--" + field.name.replace("_", "-")]
        assert action.default == getattr(DEFAULT_RULES, field.name)
        assert action.type is blessing_rules.rule_type(field)
        assert action.help == field.metadata["help"]


def test_every_rule_is_a_pipeline_parameter_with_its_default_and_bounds():
    for field in blessing_rules.rule_fields():
        p = parameters.BY_NAME[field.name]
        assert p.default == getattr(DEFAULT_RULES, field.name)
        assert p.type is blessing_rules.rule_type(field)
        assert (p.low, p.high) == blessing_rules.bounds(field.name)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_ap": 1.5}, "min_ap must be between 0 and 1, got 1.5"),
        ({"tolerance": -0.01}, "tolerance must be between 0 and 1, got -0.01"),
        ({"class_tolerance": float("nan")}, "class_tolerance must be between 0 and 1, got nan"),
        ({"class_min_boxes": 0}, "class_min_boxes must be >= 1, got 0"),
        ({"class_min_boxes": 2.5}, "class_min_boxes must be an integer, got 2.5"),
        ({"min_ap": True}, "min_ap must be a number, got True"),
    ],
)
def test_rules_are_validated_against_their_declared_ranges(changes, message):
    with pytest.raises(UserError) as err:
        dataclasses.replace(DEFAULT_RULES, **changes)
    assert str(err.value) == message


def test_the_bounds_are_the_ranges_the_rules_accept():
    for field in blessing_rules.rule_fields():
        low, high = blessing_rules.bounds(field.name)
        BlessingRules(**{field.name: low})
        if high is not None:
            BlessingRules(**{field.name: high})


def test_pipeline_parameter_range_message():
    with pytest.raises(UserError, match="parameter min_ap must be in 0.0..1.0, got 2.0"):
        parameter_values.convert("min_ap", "2")
