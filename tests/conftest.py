"""Test-wide fixtures: seeded randomness, quiet TensorFlow, paths to the datasets."""

from __future__ import annotations

import os
import pathlib
import random

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "components" / "data" / "sample" / "raccoon"
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed Python and NumPy (and TensorFlow when it is already imported) before each test."""
    random.seed(1234)
    np.random.seed(1234)
    import sys

    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(1234)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(1234)
    yield


@pytest.fixture
def object_store() -> dict[str, bytes]:
    """The in-memory object store (scheme ``memstore``, ``memory_store``): its objects by URI,
    empty before and after the test."""
    from memory_store import STORE

    STORE.clear()
    yield STORE
    STORE.clear()


SUBSET_IMAGES = 50


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> pathlib.Path:
    """The first 50 images of the bundled raccoon set (VOC: ``images/``, ``annotations/``,
    ``LICENSE``): what the core tests train and ingest, small enough for a 2-core machine."""
    import shutil

    root = tmp_path_factory.mktemp("raccoon50")
    (root / "annotations").mkdir()
    (root / "images").mkdir()
    shutil.copy(SAMPLE_DIR / "LICENSE", root / "LICENSE")
    for index in range(1, SUBSET_IMAGES + 1):
        stem = f"raccoon-{index}"
        shutil.copy(SAMPLE_DIR / "annotations" / f"{stem}.xml", root / "annotations")
        shutil.copy(SAMPLE_DIR / "images" / f"{stem}.jpg", root / "images")
    return root


@pytest.fixture
def bundled_sample_dir() -> pathlib.Path:
    """The whole bundled raccoon set (200 images): the default input of ``nasdet run``."""
    return SAMPLE_DIR


@pytest.fixture
def shared_datasets() -> pathlib.Path:
    """``../shared/datasets`` (raccoon, coco128); skips the test when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not present")
    return SHARED_DATASETS
