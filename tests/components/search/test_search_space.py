"""Sampling the search space: deterministic with a seed; every sampled point builds and runs."""

from __future__ import annotations

import dataclasses

import keras_tuner
import numpy as np
import pytest

from components.errors import UserError
from components.search.hypermodel import config_from_values, sample_config
from components.search.objective import latency_reward
from components.search.space import LARGE, SMALL, IntRange, get_space


def _sample(space, seed: int, n: int) -> list[dict]:
    """Draw ``n`` points of ``space`` with KerasTuner's random oracle seeded with ``seed``."""
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("score", "max"), max_trials=n, seed=seed
    )
    hp = oracle.get_space()
    sample_config(hp, space, 1, 1)  # declares every hyperparameter, conditional ones included
    oracle.update_space(hp)
    return [oracle.populate_space(str(i))["values"] for i in range(n)]


def test_sampling_with_a_seed_is_deterministic():
    first, again, other = _sample(SMALL, 7, 6), _sample(SMALL, 7, 6), _sample(SMALL, 8, 6)
    assert first == again
    assert first != other
    assert len({str(sorted(v.items())) for v in first}) > 1


# ``small`` with the normal cell searched too (one normal cell per stage or none)
WITH_NORMAL = dataclasses.replace(SMALL, cells_per_stage=IntRange(0, 1))


def test_conditional_block_choices_follow_the_number_of_blocks():
    for values in _sample(WITH_NORMAL, 3, 12):
        config = config_from_values(values, WITH_NORMAL, 1, 1)
        cells = config.backbone.cells
        cell_kinds = [("num_reduce_blocks", "reduce", cells.reduction_blocks)]
        if values["cells_per_stage"]:
            cell_kinds.append(("num_blocks", "block", cells.normal_blocks))
        for count, prefix, blocks in cell_kinds:
            assert len(blocks) == values[count]
            for b in range(SMALL.num_blocks.high):
                assert (f"{prefix}{b}_op_a" in values) == (b < values[count])
            for i, block in enumerate(blocks):
                assert all(0 <= j <= i + 1 for j in block.inputs)
                assert set(block.ops) <= set(SMALL.operations)


def test_the_normal_cell_is_searched_only_where_the_network_has_normal_cells():
    """Without normal cells the normal cell's choices would be values with no effect: two
    trials differing only there would train the same network."""
    samples = _sample(WITH_NORMAL, 5, 16)
    assert {v["cells_per_stage"] for v in samples} == {0, 1}
    for values in samples:
        has_normal = values["cells_per_stage"] > 0
        assert ("num_blocks" in values) == has_normal
        assert any(k.startswith("block") for k in values) == has_normal
    assert SMALL.cells_per_stage.high == 0
    assert all("num_blocks" not in v for v in _sample(SMALL, 5, 8))


def test_the_reduction_cell_is_searched_apart_from_the_normal_cell():
    """NASNet searches two cells; a reduction cell is not the normal cell with stride 2."""
    samples = [v for v in _sample(WITH_NORMAL, 5, 16) if v["cells_per_stage"]]
    configs = [config_from_values(v, WITH_NORMAL, 1, 1).backbone.cells for v in samples]
    assert configs and all(c.reduction_blocks and c.normal_blocks for c in configs)
    assert any(c.reduction_blocks != c.normal_blocks for c in configs)


def _extreme(space, pick) -> dict:
    """The point taking the first (``pick=min``) or last (``max``) value of every dimension."""
    ops = space.operations[0] if pick is min else space.operations[-1]
    values = {
        "num_blocks": pick(space.num_blocks.low, space.num_blocks.high),
        "num_reduce_blocks": pick(space.num_blocks.low, space.num_blocks.high),
        "base_width": pick(space.base_width),
        "image_size": pick(space.image_size),
        "cells_per_stage": pick(space.cells_per_stage.low, space.cells_per_stage.high),
        "bifpn_width": pick(space.bifpn_width),
        "bifpn_depth": pick(space.bifpn_depth.low, space.bifpn_depth.high),
        "head_depth": pick(space.head_depth.low, space.head_depth.high),
    }
    for prefix, count in (("block", "num_blocks"), ("reduce", "num_reduce_blocks")):
        for b in range(values[count]):
            values.update(
                {
                    f"{prefix}{b}_input_a": pick(0, b + 1),
                    f"{prefix}{b}_input_b": pick(0, b + 1),
                    f"{prefix}{b}_op_a": ops,
                    f"{prefix}{b}_op_b": ops,
                }
            )
    return values


def test_every_sampled_point_builds_a_detector_that_runs_forward():
    from components.detector.model import build_detector

    points = _sample(WITH_NORMAL, 11, 3) + [_extreme(WITH_NORMAL, min), _extreme(WITH_NORMAL, max)]
    for values in points:
        config = config_from_values(values, WITH_NORMAL, 2, 1)
        detector = build_detector(config)
        size = config.image_size
        logits, deltas = detector(np.zeros((1, size, size, 3), np.float32))
        assert logits.shape[-1] == 2 and deltas.shape[-1] == 4
        assert logits.shape[1] == deltas.shape[1] > 0
        assert np.isfinite(np.asarray(logits)).all()


def test_large_space_configs_are_valid():
    for values in _sample(LARGE, 0, 5) + [_extreme(LARGE, min), _extreme(LARGE, max)]:
        config = config_from_values(values, LARGE, 90, 10)
        assert config.image_size in LARGE.image_size
        assert config.backbone.kind == "cells"


def test_the_small_space_holds_tiny_and_its_base_values_build_tiny_exactly():
    """The search trains its base preset first: the space's base point is ``tiny`` itself
    (same network, same recipe), at the serving size or with the size searched."""
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector
    from components.search.hypermodel import base_values

    tiny = get_preset("tiny").with_overrides({"num_classes": 2})
    for size in (0, 128):
        values = base_values(SMALL, size)
        assert ("image_size" in values) == (size == 0)
        config = config_from_values(values, SMALL, 2, tiny.train.epochs, size)
        assert config.image_size == 128 and config.train == tiny.train
        assert config.bifpn == tiny.bifpn and config.head == tiny.head
        assert build_detector(config).count_params() == build_detector(tiny).count_params()
    assert base_values(LARGE) is None  # d0's EfficientNet backbone is not a cell backbone


def test_a_narrowed_space_without_the_base_preset_has_no_base_values():
    from components.search.hypermodel import base_values

    assert base_values(dataclasses.replace(SMALL, num_blocks=IntRange(1, 2))) is None
    assert base_values(dataclasses.replace(SMALL, bifpn_width=(16,))) is None
    assert base_values(dataclasses.replace(SMALL, image_size=(64,))) is None
    assert base_values(dataclasses.replace(SMALL, image_size=(64,)), 128) is not None


def test_trials_train_with_the_base_recipe_at_the_serving_size():
    """Nothing a trial uses is thrown away: its recipe is the base preset's and its size the
    one the pick is trained at; the size is searched only when none is given."""
    from components.detector.config_load import get_preset

    recipe = get_preset(SMALL.base_preset).train
    for values in _sample(SMALL, 4, 6):
        fixed = config_from_values({**values}, SMALL, 1, 3, 160)
        assert fixed.image_size == 160
        assert fixed.train == recipe.__class__(**{**recipe.__dict__, "epochs": 3})
    declared = keras_tuner.HyperParameters()
    sample_config(declared, SMALL, 1, 1, 128)
    assert "image_size" not in declared.values and "learning_rate" not in declared.values
    searched = keras_tuner.HyperParameters()
    sample_config(searched, SMALL, 1, 1)
    assert "image_size" in searched.values


def test_unknown_space_is_a_user_error():
    with pytest.raises(UserError, match="unknown search space"):
        get_space("huge")


def test_latency_reward_prefers_faster_models_at_equal_ap():
    assert latency_reward(0.4, 20.0, 20.0, -0.07) == pytest.approx(0.4)
    assert latency_reward(0.4, 40.0, 20.0, -0.07) == pytest.approx(0.4 * 2**-0.07)
    assert latency_reward(0.4, 10.0, 20.0, -0.07) > latency_reward(0.4, 40.0, 20.0, -0.07)
    assert latency_reward(0.4, 123.0, None, 0.0) == 0.4
    with pytest.raises(ValueError, match="must be positive"):
        latency_reward(0.4, 10.0, None, -0.07)


def test_the_operations_are_the_detectors_registered_cell_ops():
    from components.detector import cell_ops
    from components.search.space import ALL_OPERATIONS

    assert cell_ops.op_names() == ALL_OPERATIONS
    assert set(SMALL.operations) <= set(cell_ops.op_names())
    assert set(LARGE.operations) <= set(cell_ops.op_names())


def test_a_space_with_an_unknown_operation_is_rejected_with_the_known_ops():

    with pytest.raises(ValueError, match=r"unknown cell op 'conv_7x7' \(known: identity, "):
        dataclasses.replace(SMALL, operations=("identity", "conv_7x7"))
    subset = dataclasses.replace(SMALL, operations=("identity", "sep_conv_3x3"))
    assert subset.operations == ("identity", "sep_conv_3x3")


def test_a_registered_op_can_be_searched():

    from components.detector import cell_ops

    @cell_ops.register_op("test_only_max_pool_5x5")
    def _max_pool_5x5(x, channels, stride, name):
        from keras import layers

        return layers.MaxPooling2D(5, strides=stride, padding="same", name=f"{name}_max5")(x)

    try:
        space = dataclasses.replace(SMALL, operations=("test_only_max_pool_5x5",))
        config = config_from_values(_extreme(space, min), space, 1, 1)
        assert config.backbone.cells.normal_blocks[0].ops == ("test_only_max_pool_5x5",) * 2
    finally:
        cell_ops.unregister_op("test_only_max_pool_5x5")
    with pytest.raises(ValueError, match="unknown cell op 'test_only_max_pool_5x5'"):
        dataclasses.replace(SMALL, operations=("test_only_max_pool_5x5",))


def test_in_space_tells_the_points_of_a_space_from_those_outside():
    """Results measured on an earlier space (the calibration's) are read against the space now:
    a point with a normal cell per stage is not one of ``small``'s any more."""
    from components.search.hypermodel import base_values, in_space

    with_normal = [v for v in _sample(WITH_NORMAL, 6, 12) if v["cells_per_stage"]]
    assert with_normal and all(in_space(v, WITH_NORMAL) for v in with_normal)
    assert not any(in_space(v, SMALL) for v in with_normal)
    assert all(in_space(v, SMALL) for v in _sample(SMALL, 6, 6))
    assert in_space(base_values(SMALL, 128), SMALL, 128)
    assert not in_space({**base_values(SMALL, 128), "bifpn_width": 40}, SMALL, 128)


def test_values_with_a_normal_cell_the_space_does_not_have_are_refused():
    """Read back from an earlier space's trial, they would build another network silently."""
    values = next(v for v in _sample(WITH_NORMAL, 6, 12) if v["cells_per_stage"])
    assert config_from_values(values, WITH_NORMAL, 1, 1).backbone.cells.cells_per_stage == 1
    with pytest.raises(ValueError, match="cells_per_stage 1 is not a point of the small space"):
        config_from_values(values, SMALL, 1, 1)
