"""Fixtures of the predict tests: a real exported detector (random weights) and bundled images."""

from __future__ import annotations

import pathlib
import shutil

import pytest

SAMPLE_IMAGES = (
    pathlib.Path(__file__).resolve().parents[3] / "components" / "data" / "sample" / "raccoon"
) / "images"
LABELS = {
    "classes": [{"id": 1, "name": "cat", "source_id": 3}, {"id": 2, "name": "dog", "source_id": 7}]
}


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory) -> str:
    """A Model artifact folder: tiny, 2 classes, random weights, no score floor, 20 detections."""
    import keras

    from components.artifacts.model import CONFIG_FILE
    from components.detector import export
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    keras.utils.set_random_seed(3)
    config = get_preset("tiny").with_overrides(
        {"num_classes": 2, "postprocess.score_threshold": 0.0, "postprocess.max_detections": 20}
    )
    out = tmp_path_factory.mktemp("predict_model")
    export.export_saved_model(build_detector(config), config, LABELS, str(out))
    config.save(out / CONFIG_FILE)
    return str(out)


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory) -> pathlib.Path:
    """A folder with three bundled sample images (of different sizes)."""
    folder = tmp_path_factory.mktemp("predict_images")
    for name in ("raccoon-1.jpg", "raccoon-100.jpg", "raccoon-12.jpg"):
        shutil.copy(SAMPLE_IMAGES / name, folder / name)
    return folder
