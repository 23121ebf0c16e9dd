"""The exported SavedModel gives the in-memory model's detections, in the original image frame."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from components.data import preprocess  # noqa: E402
from components.detector import anchors as anchors_lib  # noqa: E402
from components.detector import export, postprocess  # noqa: E402
from components.detector.config_load import get_preset  # noqa: E402
from components.detector.model import build_detector  # noqa: E402

LABELS = {
    "classes": [{"id": 1, "name": "cat", "source_id": 3}, {"id": 2, "name": "dog", "source_id": 7}]
}
SIZES = [(96, 160), (200, 120), (128, 128), (37, 301)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny 2-class detector (random weights, no score threshold) and its export."""
    import keras

    keras.utils.set_random_seed(7)
    config = get_preset("tiny").with_overrides(
        {"num_classes": 2, "postprocess.score_threshold": 0.0, "postprocess.max_detections": 20}
    )
    model = build_detector(config)
    out = tmp_path_factory.mktemp("export")
    saved_model_dir = export.export_saved_model(model, config, LABELS, str(out))
    return model, config, out, tf.saved_model.load(saved_model_dir)


def _reference(model, config, image: np.ndarray) -> dict[str, np.ndarray]:
    """Detections of the in-memory model for one uint8 image, boxes mapped back by hand."""
    size = config.image_size
    padded, _ = preprocess.resize_and_pad(image, size)
    logits, deltas = model(padded[None], training=False)
    out = postprocess.postprocess(logits, deltas, anchors_lib.generate_anchors(config), config)
    h, w = image.shape[:2]
    new_h = max(round(h * size / max(h, w)), 1)
    new_w = max(round(w * size / max(h, w)), 1)
    factors = np.array([new_h, new_w, new_h, new_w], np.float32) / size
    n = int(out["num_detections"][0])
    return {
        "boxes": np.clip(out["detection_boxes"][0].numpy()[:n] / factors, 0.0, 1.0),
        "scores": out["detection_scores"][0].numpy()[:n],
        "classes": out["detection_classes"][0].numpy()[:n],
    }


def _check_same(outputs: dict, row: int, ref: dict) -> None:
    n = int(outputs["num_detections"][row])
    assert n == len(ref["scores"]) > 0
    np.testing.assert_allclose(outputs["detection_scores"][row][:n], ref["scores"], atol=1e-5)
    np.testing.assert_allclose(outputs["detection_boxes"][row][:n], ref["boxes"], atol=1e-4)
    np.testing.assert_array_equal(outputs["detection_classes"][row][:n], ref["classes"])
    assert np.all(outputs["detection_boxes"][row][n:] == 0)


def _images(h: int, w: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(count, h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)[:, :h, :w]


def test_export_writes_signatures_and_labels(exported):
    _, _, out, loaded = exported
    assert json.loads((out / "labels.json").read_text()) == LABELS
    assert set(export.SIGNATURES) <= set(loaded.signatures)
    default = loaded.signatures["serving_default"].structured_input_signature[1]["images"]
    assert default.dtype == tf.uint8 and default.shape.as_list() == [None, None, None, 3]
    encoded = loaded.signatures["serving_bytes"].structured_input_signature[1]["images"]
    assert encoded.dtype == tf.string and encoded.shape.as_list() == [None]
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert set(outputs) == {
        "detection_boxes",
        "detection_scores",
        "detection_classes",
        "num_detections",
    }


@pytest.mark.parametrize("h,w", SIZES)
def test_serving_default_matches_in_memory_model(exported, h, w):
    model, config, _, loaded = exported
    images = _images(h, w, 2, seed=h * w)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    outputs = {k: v.numpy() for k, v in outputs.items()}
    assert outputs["detection_boxes"].shape == (2, 20, 4)
    for row in range(2):
        _check_same(outputs, row, _reference(model, config, images[row]))


def test_serving_bytes_matches_in_memory_model(exported):
    from PIL import Image

    model, config, _, loaded = exported
    images = [_images(h, w, 1, seed=h + w)[0] for h, w in SIZES]
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    outputs = loaded.signatures["serving_bytes"](images=tf.constant(encoded))
    outputs = {k: v.numpy() for k, v in outputs.items()}
    assert outputs["num_detections"].shape == (len(SIZES),)
    for row, image in enumerate(images):
        _check_same(outputs, row, _reference(model, config, image))


def test_evaluation_signature_keeps_what_the_serving_threshold_drops(tmp_path):
    """A fresh detector scores near its 0.01 prior: serving (threshold 0.05) returns nothing,
    the evaluation signature the top 100 per image above the COCO floor of 0.001."""
    import keras

    keras.utils.set_random_seed(3)
    config = get_preset("tiny").replace(num_classes=2)
    assert config.postprocess.score_threshold == 0.05
    model = build_detector(config)
    saved = tf.saved_model.load(export.export_saved_model(model, config, LABELS, str(tmp_path)))
    images = tf.constant(_images(128, 160, 2, seed=5))
    served = saved.signatures["serving_default"](images=images)
    evaluated = saved.signatures[export.EVALUATION_SIGNATURE](images=images)
    assert served["num_detections"].numpy().tolist() == [0.0, 0.0]
    assert evaluated["num_detections"].numpy().tolist() == [100.0, 100.0]
    scores = evaluated["detection_scores"].numpy()
    assert scores.min() >= export.COCO_SCORE_FLOOR and scores.max() < 0.05
