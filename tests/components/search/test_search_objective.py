"""The search objective scores trials by the COCO protocol, not through the serving threshold."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")


def test_an_untrained_detector_below_the_serving_threshold_still_scores(tiny_examples):
    """A fresh detector's scores sit near its 0.01 prior, all below serving's 0.05: through
    the serving post-processing it would score exactly 0 and no trial could be ranked."""
    import keras

    from components.detector.config_load import get_preset
    from components.detector.model import build_detector
    from components.metrics.detector_ap import coco_metrics

    keras.utils.set_random_seed(11)
    config = get_preset("tiny").with_overrides({"num_classes": 1, "image_size": 96})
    assert config.postprocess.score_threshold == 0.05
    detector = build_detector(config)
    metrics = coco_metrics(detector, config, tiny_examples)
    assert metrics["AR100"] > 0.0  # its 100 guesses per image found some raccoons
    assert 0.0 <= metrics["AP"] < 0.05
