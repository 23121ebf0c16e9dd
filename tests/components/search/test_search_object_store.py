"""The search step on an object store (the in-memory one stands in for gs:// / s3://): the tuner
project kept there and resumed from it, and an architecture reused from a pushed version."""

from __future__ import annotations

import csv
import json
import os

import pytest

from components import local_copy
from components.artifacts import architecture, model
from components.detector.config_load import get_preset, load_architecture
from components.errors import UserError
from components.search import run
from components.search.tuners import EVENTS_FILE, ORACLE_FILE, PROJECT_NAME

WORK = "memstore://bucket/checkpoints/run1/search"
PROJECT = f"{WORK}/{PROJECT_NAME}"


class Interrupted(Exception):
    """Stands in for the pod being killed once the first trial is synced."""


def _events(object_store: dict) -> list[dict]:
    lines = object_store[f"{PROJECT}/{EVENTS_FILE}"].decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.slow
def test_a_search_on_an_object_store_resumes_there(
    object_store, tiny_examples, tmp_path, tight_space, monkeypatch
):
    settings = dict(
        algorithm="random",
        max_trials=2,
        epochs=1,
        seed=3,
        space=tight_space,
        train_images=4,
        eval_images=2,
        max_latency_ms=0.0,  # no latency limit: every trial trains
        work_dir=WORK,
    )
    out = tmp_path / "architecture"
    sync = local_copy.WorkDir.sync
    syncs: list[int] = []

    def interrupted_after_the_first_trial(self) -> int:
        syncs.append(sync(self))
        if len(syncs) == 2:  # the sync before the search, then the first trial's
            raise Interrupted
        return syncs[-1]

    monkeypatch.setattr(local_copy.WorkDir, "sync", interrupted_after_the_first_trial)
    with pytest.raises(Interrupted):
        run(tiny_examples, str(out), **settings)
    monkeypatch.setattr(local_copy.WorkDir, "sync", sync)
    assert not out.exists() and not os.path.exists(local_copy.staging_path(WORK))
    assert f"{PROJECT}/{ORACLE_FILE}" in object_store
    assert f"{PROJECT}/trial_0/trial.json" in object_store
    first = _events(object_store)
    assert [(e["event"], e["trial_id"]) for e in first] == [("begin", "0"), ("end", "0")]

    summary = run(tiny_examples, str(out), **settings)
    assert summary["work_dir"] == WORK
    assert summary["resumed_trials"] == 1 and summary["trials_run"] == 1
    with open(out / architecture.TRIALS_FILE) as f:
        rows = list(csv.DictReader(f))
    assert [(r["trial_id"], r["status"]) for r in rows] == [("0", "COMPLETED"), ("1", "COMPLETED")]
    again = _events(object_store)[len(first) :]
    assert [(e["event"], e["trial_id"]) for e in again] == [("begin", "1"), ("end", "1")]


def test_search_workers_need_a_shared_folder_not_a_uri(tiny_examples, tmp_path):
    with pytest.raises(UserError, match=f"not the URI {WORK}"):
        run(tiny_examples, str(tmp_path / "out"), workers=2, work_dir=WORK)


def test_an_architecture_is_reused_from_a_version_on_an_object_store(
    object_store, tiny_examples, tmp_path
):
    version = "memstore://bucket/serving/det/4"
    pushed = get_preset("tiny").with_overrides({"num_classes": 1, "image_size": 192})
    object_store[f"{version}/{model.CONFIG_FILE}"] = pushed.to_json().encode()
    object_store[f"{version}/{model.SAVED_MODEL_PB}"] = b"pb"
    for reused in (version, f"{version}/{model.CONFIG_FILE}"):  # the folder or its config
        out = tmp_path / reused.rsplit("/", 1)[-1]
        summary = run(tiny_examples, str(out), reuse_architecture=reused)
        assert summary["reused"] == reused and summary["trials"] == 0
        assert load_architecture(str(out / architecture.ARCHITECTURE_FILE)) == pushed
    with pytest.raises(UserError, match="memstore://bucket/serving/det/5"):
        run(tiny_examples, str(tmp_path / "none"), reuse_architecture=f"{version[:-1]}5")
