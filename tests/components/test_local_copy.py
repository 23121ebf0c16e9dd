"""Local copies of URI files and working folders (the in-memory object store stands in for
gs:// / s3://): staged down, synced up in an order a killed process can resume from."""

from __future__ import annotations

import os

import pytest

from components import files, local_copy
from components.errors import UserError
from components.local_copy import local_file, local_work_dir

HOME = "memstore://bucket/checkpoints/run1/train"


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_a_local_folder_is_used_in_place(tmp_path):
    home = str(tmp_path / "model.work")
    with local_work_dir(home, last=("state.json",)) as work:
        assert work.local == work.home == home and not work.remote
        assert not os.path.exists(home)  # nothing made, nothing copied
        _write(os.path.join(home, "state.json"), "{}")
        assert work.sync() == 0
    assert os.path.isfile(os.path.join(home, "state.json"))  # kept: a rerun resumes there
    work.remove()
    assert not os.path.exists(home)


def test_a_uri_is_staged_down_and_synced_up(object_store):
    object_store[f"{HOME}/state.json"] = b'{"epoch": 1}'
    object_store[f"{HOME}/ckpt/ckpt-1.index"] = b"one"
    with local_work_dir(HOME, last=("state.json",)) as work:
        assert work.remote and work.local == local_copy.staging_path(HOME)
        with open(os.path.join(work.local, "ckpt", "ckpt-1.index")) as f:
            assert f.read() == "one"
        assert work.sync() == 0  # nothing changed since the stage-down
        _write(os.path.join(work.local, "ckpt", "ckpt-2.index"), "two")
        _write(os.path.join(work.local, "state.json"), '{"epoch": 2}')
        os.remove(os.path.join(work.local, "ckpt", "ckpt-1.index"))
        assert work.sync() == 2
        assert work.sync() == 0
    assert not os.path.exists(work.local)  # the local copy goes, the URI stays
    assert object_store == {
        f"{HOME}/state.json": b'{"epoch": 2}',
        f"{HOME}/ckpt/ckpt-2.index": b"two",
    }
    with local_work_dir(HOME) as again:  # another attempt finds the synced folder
        assert files.walk_files(again.local) == ["ckpt/ckpt-2.index", "state.json"]
        again.remove()
    assert object_store == {} and not os.path.exists(again.local)


def test_the_last_file_is_uploaded_after_what_it_names_and_before_deletions(
    object_store, monkeypatch
):
    object_store[f"{HOME}/ckpt/ckpt-1.index"] = b"one"
    done: list[str] = []
    copy, remove = files.copy, files.remove_tree
    monkeypatch.setattr(files, "copy", lambda s, d: (done.append(f"put {d}"), copy(s, d)))
    monkeypatch.setattr(files, "remove_tree", lambda p: (done.append(f"del {p}"), remove(p)))
    with local_work_dir(HOME, last=("state.json",)) as work:
        done.clear()
        _write(os.path.join(work.local, "state.json"), "{}")
        _write(os.path.join(work.local, "zz", "ckpt-2.index"), "two")
        os.remove(os.path.join(work.local, "ckpt", "ckpt-1.index"))
        work.sync()
    assert done == [
        f"put {HOME}/zz/ckpt-2.index",
        f"put {HOME}/state.json",
        f"del {HOME}/ckpt/ckpt-1.index",
    ]


def test_a_sync_killed_before_the_last_file_leaves_the_previous_epoch_whole(
    object_store, monkeypatch
):
    object_store[f"{HOME}/state.json"] = b"1"
    object_store[f"{HOME}/ckpt/ckpt-1.index"] = b"one"
    copy = files.copy

    def killed_at_the_state(src: str, dst: str) -> None:
        if dst.endswith("state.json"):
            raise KeyboardInterrupt  # the pod is gone
        copy(src, dst)

    monkeypatch.setattr(files, "copy", killed_at_the_state)
    with pytest.raises(KeyboardInterrupt), local_work_dir(HOME, last=("state.json",)) as work:
        _write(os.path.join(work.local, "ckpt", "ckpt-2.index"), "two")
        _write(os.path.join(work.local, "state.json"), "2")
        os.remove(os.path.join(work.local, "ckpt", "ckpt-1.index"))
        work.sync()
    assert object_store[f"{HOME}/state.json"] == b"1"
    assert object_store[f"{HOME}/ckpt/ckpt-1.index"] == b"one"  # what state.json names


def test_a_stale_local_copy_is_replaced_by_the_uri(object_store):
    object_store[f"{HOME}/state.json"] = b"remote"
    stale = local_copy.staging_path(HOME)
    _write(os.path.join(stale, "state.json"), "stale")
    _write(os.path.join(stale, "ckpt", "ckpt-9.index"), "stale")
    with local_work_dir(HOME) as work:
        assert files.walk_files(work.local) == ["state.json"]
        assert files.read_text(os.path.join(work.local, "state.json")) == "remote"


def test_a_uri_file_is_copied_locally_while_used(object_store, tmp_path):
    uri = "memstore://bucket/serving/det/3/model.weights.h5"
    object_store[uri] = b"weights"
    with local_file(uri) as path:
        assert not files.is_remote(path) and path.endswith("/model.weights.h5")
        assert files.read_bytes(path) == b"weights"
    assert not os.path.exists(path)
    here = str(tmp_path / "model.weights.h5")
    with local_file(here) as same:
        assert same == here


def test_an_unreadable_uri_is_a_one_line_user_error():
    match = "cannot read the working folder nosuch://b/w"
    with pytest.raises(UserError, match=match) as err, local_work_dir("nosuch://b/w"):
        pass
    assert "\n" not in str(err.value)
