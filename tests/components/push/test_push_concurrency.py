"""Push under concurrency: readers never see a partial version, writers never collide."""

from __future__ import annotations

import json
import os
import threading

from components.push import run as push_run
from components.push import versions

REQUIRED = ("saved_model.pb", "variables/variables.index", "labels.json", "push.json")


def _check_version(path: str, version: int) -> str | None:
    """None when the version dir is complete and loadable; else what is wrong."""
    import tensorflow as tf

    missing = [name for name in REQUIRED if not os.path.exists(os.path.join(path, name))]
    if missing:
        return f"version {version} lacks {missing}"
    with open(os.path.join(path, "push.json")) as f:
        if json.load(f)["version"] != version:
            return f"version {version} has push.json of another version"
    tf.saved_model.load(path)
    return None


def test_reader_never_sees_a_partial_version(tmp_path, model_and_blessing, monkeypatch):
    import time

    from components import files

    model, blessing = model_and_blessing
    real_copy = files.copy

    def slow_copy(src, dst):  # widen the window a non-atomic push would show
        time.sleep(0.02)
        real_copy(src, dst)

    monkeypatch.setattr(files, "copy", slow_copy)
    root = tmp_path / "serving" / "det"
    done = threading.Event()
    problems: list[str] = []
    seen: set[int] = set()

    def reader():
        while not done.is_set():
            for version in versions.integer_versions(str(root)):
                problem = _check_version(str(root / str(version)), version)
                if problem:
                    problems.append(problem)
                seen.add(version)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(6):
            push_run(model, blessing, str(tmp_path / "serving"), "det")
    finally:
        done.set()
        thread.join()
    assert problems == []
    assert seen  # the reader did look at versions while pushes ran
    assert versions.integer_versions(str(root)) == [1, 2, 3, 4, 5, 6]


def test_concurrent_pushes_get_distinct_versions(tmp_path, model_and_blessing):
    model, blessing = model_and_blessing
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def pusher():
        start.wait()
        try:
            for _ in range(3):
                results.append(
                    push_run(model, blessing, str(tmp_path / "serving"), "det")["version"]
                )
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=pusher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == list(range(1, 10))
    root = tmp_path / "serving" / "det"
    assert versions.integer_versions(str(root)) == list(range(1, 10))
    for version in range(1, 10):
        with open(root / str(version) / "push.json") as f:
            assert json.load(f)["version"] == version
    assert not [n for n in os.listdir(root) if n.startswith(".tmp")]
