"""Fixtures for the push tests: a real (tiny) Model artifact and blessings for it."""

from __future__ import annotations

import json
import os
import shutil

import pytest


def _save_tiny_model(root: str, scale: float) -> None:
    """A Model artifact: saved_model/ (serving_default on uint8 images), labels, config."""
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.scale = tf.Variable(scale)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "images")])
        def serve(self, images):
            b = tf.shape(images)[0]
            return {
                "detection_boxes": tf.fill([b, 1, 4], self.scale),
                "detection_scores": tf.ones([b, 1]),
                "detection_classes": tf.ones([b, 1]),
                "num_detections": tf.ones([b]),
            }

    module = Tiny()
    tf.saved_model.save(
        module, os.path.join(root, "saved_model"), {"serving_default": module.serve}
    )
    with open(os.path.join(root, "labels.json"), "w") as f:
        json.dump({"classes": [{"id": 1, "name": "raccoon", "source_id": 1}]}, f)
    with open(os.path.join(root, "detector_config.json"), "w") as f:
        json.dump({"name": "tiny-test"}, f)


@pytest.fixture(scope="session")
def _model_templates(tmp_path_factory):
    root = tmp_path_factory.mktemp("push-models")
    paths = []
    for i, scale in enumerate((0.25, 0.5)):
        path = str(root / f"model{i}")
        _save_tiny_model(path, scale)
        paths.append(path)
    return paths


def bless(model: str, blessed: bool, path: str) -> str:
    from components.artifacts.model import model_fingerprint

    decision = {
        "blessed": blessed,
        "reasons": ["AP 0.5000 meets the minimum AP 0.1000."] if blessed else ["AP too low."],
        "candidate": {"AP": 0.5, "AP50": 0.8},
        "baseline": None,
        "model": model,
        "model_fingerprint": model_fingerprint(os.path.join(model, "saved_model")),
        "examples": "/data/examples",
        "data_fingerprint": "sha256:" + "ab" * 32,
    }
    with open(path, "w") as f:
        json.dump(decision, f)
    return path


@pytest.fixture
def model_and_blessing(tmp_path, _model_templates):
    """(model_dir, blessing_file) of a blessed tiny model, copied into this test's tmp_path."""
    model = str(tmp_path / "model")
    shutil.copytree(_model_templates[0], model)
    return model, bless(model, True, str(tmp_path / "blessing.json"))


@pytest.fixture
def other_model(tmp_path, _model_templates):
    """(model_dir, blessing_file, not_blessed_file) of a second, different tiny model."""
    model = str(tmp_path / "other")
    shutil.copytree(_model_templates[1], model)
    return (
        model,
        bless(model, True, str(tmp_path / "other-blessing.json")),
        bless(model, False, str(tmp_path / "other-not-blessed.json")),
    )


@pytest.fixture(autouse=True)
def load_check_in_process(monkeypatch):
    """The push's load check runs in this process here, to keep these tests fast: the same
    check (load the staged copy, replay its warm-up requests, compare), without a fresh Python
    that imports TensorFlow anew for each push. test_push_load_check.py overrides this fixture
    and runs it in a fresh process, as the push does."""
    from components.push import load_check, readiness

    def in_process(saved_model_dir: str, expected_file: str, tolerance: float) -> dict:
        expected = load_check.read_expected(expected_file)
        return load_check.check(saved_model_dir, expected, tolerance)

    monkeypatch.setattr(readiness, "run_load_check", in_process)
