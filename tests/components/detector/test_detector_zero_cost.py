"""Zero-cost scores: one registry, deterministic with a seed, finite, bigger nets score higher."""

from __future__ import annotations

import math

import pytest

from components.detector import zero_cost
from components.errors import UserError

SEED = 3
WIDE = {"backbone.cells.stem_width": 32, "backbone.cells.filters": 32, "bifpn.width": 64}


def test_registry_names_and_errors():
    assert zero_cost.score_names()[:3] == ("params", "naswot", "synflow")
    with pytest.raises(UserError, match=r"unknown zero-cost score 'zen' \(known: params, naswot"):
        zero_cost.compute("zen", None, None)
    with pytest.raises(ValueError, match="already registered"):
        zero_cost.register_score("params")(lambda detector, images: 0.0)


def _tiny(overrides: dict | None = None):
    import keras

    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    config = get_preset("tiny").with_overrides(
        {"num_classes": 1, "image_size": 64, **(overrides or {})}
    )
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    return build_detector(config)


@pytest.fixture(scope="module")
def images():
    import numpy as np

    return np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")


@pytest.mark.parametrize("name", ["params", "naswot", "synflow"])
def test_each_score_is_finite_deterministic_and_higher_for_the_wider_net(name, images):
    pytest.importorskip("tensorflow")
    small = zero_cost.compute(name, _tiny(), images)
    again = zero_cost.compute(name, _tiny(), images)
    wide = zero_cost.compute(name, _tiny(WIDE), images)
    assert math.isfinite(small) and math.isfinite(wide)
    assert small == again
    assert wide > small


def test_scores_leave_the_detector_as_it_was(images):
    pytest.importorskip("tensorflow")
    import numpy as np

    detector = _tiny()
    before = [w.numpy().copy() for w in detector.weights]
    for name in zero_cost.score_names():
        zero_cost.compute(name, detector, images)
    after = [w.numpy() for w in detector.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(
        layer.activation.__name__ in ("relu", "swish", "silu")
        for layer in zero_cost._rectifiers(detector)
    )


def test_naswot_stays_finite_on_duplicate_images_and_ranks_them_lower(images):
    """Duplicates in a minibatch make the plain kernel singular (-inf for every network); with
    the identity added the score stays finite and lower than on distinct images."""
    pytest.importorskip("tensorflow")
    import numpy as np

    detector = _tiny()
    distinct = zero_cost.compute("naswot", detector, images[:4])
    duplicated = np.concatenate([images[:3], images[:1]], axis=0)
    twice = zero_cost.compute("naswot", detector, duplicated)
    assert math.isfinite(twice) and math.isfinite(distinct)
    assert twice < distinct
