"""Search trials fit their anchors to the training boxes exactly as the train step does."""

from __future__ import annotations

import keras_tuner

from components.artifacts.examples import TRAIN_SPLIT
from components.data import example_reader
from components.detector import anchor_fit
from components.detector.config_load import get_preset
from components.search import hypermodel as hypermodel_lib
from components.search.space import SMALL


def test_trial_configs_carry_the_scale_the_train_step_would_fit(tiny_examples, monkeypatch):
    base = get_preset(SMALL.base_preset).with_overrides(
        {"anchors.fit": True, "anchors.anchor_scale": 1.0}
    )
    monkeypatch.setattr(hypermodel_lib, "get_preset", lambda name: base)
    reads = []
    real_read = example_reader.read_boxes

    def counting_read(*args):
        reads.append(args)
        return real_read(*args)

    monkeypatch.setattr("components.data.example_reader.read_boxes", counting_read)
    model = hypermodel_lib.DetectorHyperModel(SMALL, tiny_examples, 1, 8, 1)
    hp = keras_tuner.HyperParameters()

    config = model.config(hp)
    again = model.config(hp)
    assert again == config and len(reads) == 1  # the boxes are read once, the fit cached

    expected, fit = anchor_fit.fit_to_examples(
        config.with_overrides({"anchors.anchor_scale": 1.0}), tiny_examples, TRAIN_SPLIT
    )
    assert fit.anchor_scale > 1.0  # scale-1 anchors (8 px on level 3) cover no raccoon
    assert config.anchors.anchor_scale == expected.anchors.anchor_scale
