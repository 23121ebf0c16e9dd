"""``backbone_weights`` and ``image_size`` of the train step: a weights file the test makes."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from components.detector.config_load import get_preset  # noqa: E402
from components.detector.model import build_detector  # noqa: E402
from components.train.cli import main  # noqa: E402


def _weights_file(path, constructor, size: int, fill: float | None = None) -> str:
    """Save an EfficientNet without top (random or ``fill``-valued stem kernel) to ``path``."""
    network = constructor(include_top=False, weights=None, input_shape=(size, size, 3))
    if fill is not None:
        stem = network.get_layer("stem_conv")
        stem.kernel.assign(np.full(stem.kernel.shape, fill, np.float32))
    network.save_weights(str(path))
    return str(path)


def _stem_kernel(detector: keras.Model) -> np.ndarray:
    for weight in detector.weights:
        if "stem_conv" in weight.path and weight.path.endswith("kernel"):
            return np.asarray(weight)
    raise AssertionError("no stem_conv kernel")


def test_the_backbone_starts_from_the_file(tmp_path):
    path = _weights_file(tmp_path / "b0.weights.h5", keras.applications.EfficientNetB0, 96, 0.25)
    config = get_preset("tiny-effnet").with_overrides(
        {"num_classes": 1, "image_size": 96, "backbone.weights": path}
    )
    np.testing.assert_array_equal(_stem_kernel(build_detector(config)), 0.25)
    scratch = config.with_overrides({"backbone.weights": "none"})
    assert not np.all(_stem_kernel(build_detector(scratch)) == 0.25)


def _train(tmp_path, examples, capsys, *extra) -> tuple[int, str]:
    out = tmp_path / "model"
    argv = ["--examples", str(examples), "--architecture", "tiny-effnet", "--output", str(out)]
    code = main([*argv, "--epochs", "1", "--batch-size", "4", *extra])
    return code, capsys.readouterr()


@pytest.mark.slow
def test_train_with_a_weights_file_and_another_resolution(tmp_path, overfit_examples, capsys):
    path = _weights_file(tmp_path / "b0.weights.h5", keras.applications.EfficientNetB0, 96)
    code, captured = _train(
        tmp_path, overfit_examples, capsys, "--backbone-weights", path, "--image-size", "96"
    )
    assert code == 0, captured.err[-2000:]
    summary = json.loads(captured.out[captured.out.index("{") :])
    assert summary["image_size"] == 96 and summary["backbone_weights"] == path
    config = json.loads((tmp_path / "model" / "detector_config.json").read_text())
    assert config["image_size"] == 96
    assert config["backbone"]["weights"] == "none"  # the artifact holds its own weights


def test_bad_weights_are_one_line_errors(tmp_path, overfit_examples, capsys):
    code, captured = _train(
        tmp_path, overfit_examples, capsys, "--backbone-weights", str(tmp_path / "missing.h5")
    )
    assert code == 2 and captured.err.startswith("error: backbone_weights: no such weights file")
    assert len(captured.err.strip().splitlines()) == 1

    other = _weights_file(tmp_path / "b1.weights.h5", keras.applications.EfficientNetB1, 128)
    code, captured = _train(tmp_path, overfit_examples, capsys, "--backbone-weights", other)
    assert code == 2, captured.err[-2000:]
    assert captured.err.startswith("error: backbone.weights ") and "EfficientNet-b0" in captured.err
    assert len(captured.err.strip().splitlines()) == 1

    out = tmp_path / "cells"
    argv = ["--examples", str(overfit_examples), "--architecture", "tiny", "--output", str(out)]
    code = main([*argv, "--backbone-weights", "imagenet"])
    err = capsys.readouterr().err
    assert code == 2 and "pretrained weights exist only for efficientnet" in err
    assert not (tmp_path / "model").exists() and not out.exists()


def test_image_size_must_fit_the_pyramid(tmp_path, overfit_examples, capsys):
    code, captured = _train(tmp_path, overfit_examples, capsys, "--image-size", "100")
    assert code == 2 and "image_size 100 must be a multiple of" in captured.err
