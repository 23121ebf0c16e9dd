"""The optimizer registry: SGD keeps L2 in the loss, AdamW decays kernels only (decoupled)."""

from __future__ import annotations

import numpy as np
import pytest

from components.detector.config_load import get_preset
from components.errors import UserError
from components.training.builder import build_trainer
from components.training.optimizers import OPTIMIZERS

SMALL = {
    "num_classes": 2,
    "image_size": 32,
    "bifpn": {"width": 16, "depth": 1, "min_level": 3, "max_level": 5},
    "head": {"depth": 1},
    "train": {"warmup_epochs": 0.0},
}


def _trainer(optimizer: str, weight_decay: float):
    config = get_preset("tiny").with_overrides(
        {**SMALL, "train": {**SMALL["train"], "optimizer": optimizer, "weight_decay": weight_decay}}
    )
    return build_trainer(config, steps_per_epoch=10, epochs=1, global_batch=8, jit_compile=False)


def _zero_gradient_step(trainer) -> tuple[list[np.ndarray], list[np.ndarray]]:
    variables = trainer.trainable_variables
    before = [v.numpy().copy() for v in variables]
    trainer.optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in variables])
    return before, [v.numpy() for v in variables]


def test_the_config_accepts_exactly_the_registry():
    for name in OPTIMIZERS:
        get_preset("tiny").with_overrides({"train": {"optimizer": name}})
    with pytest.raises(UserError, match="train.optimizer"):
        get_preset("tiny").with_overrides({"train": {"optimizer": "lamb"}})


def test_adamw_decays_kernels_and_leaves_biases_and_norms_alone():
    trainer = _trainer("adamw", weight_decay=0.5)
    assert trainer.weight_decay == 0.0  # nothing enters the loss
    before, after = _zero_gradient_step(trainer)
    shrunk = kept = 0
    for variable, old, new in zip(trainer.trainable_variables, before, after, strict=True):
        if not np.any(old):
            continue
        if len(variable.shape) >= 2:
            assert np.linalg.norm(new) < np.linalg.norm(old), variable.path
            shrunk += 1
        else:
            np.testing.assert_array_equal(new, old, err_msg=variable.path)
            kept += 1
    assert shrunk and kept


def test_sgd_keeps_decay_in_the_loss_not_in_the_update():
    trainer = _trainer("sgd", weight_decay=0.5)
    assert trainer.weight_decay == 0.5
    before, after = _zero_gradient_step(trainer)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(new, old)
