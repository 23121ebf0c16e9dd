"""Version numbers of a model under the serving root: listing, allocation, pruning.

Layout (TensorFlow Serving): ``<serving_root>/<model_name>/<version>/`` with an integer
``version``. Versions only grow and are never reused: the next version is one more than the
larger of the highest existing version and the highest version ever pushed, which is kept in
the marker file ``<serving_root>/<model_name>/.last_version`` (TF Serving ignores names that
are not integers, as should any other reader). So deleting versions (``--keep``, or by hand)
never makes a number come back. (``--keep`` alone could not cause reuse anyway, since it never
deletes the newest version; the marker covers versions deleted by hand.) Two pushes finishing
at the same moment may both write the marker; each writes the larger of its version and the
marker it reads, so the marker can lag by a concurrent push but the version directories
themselves still hold the highest number. Temporary directories are hidden (``.tmp-...``).
"""

from __future__ import annotations

import os
import shutil
import uuid

from components import files
from components.artifacts.serving import integer_versions
from components.files import join

MARKER = ".last_version"


def read_marker(model_root: str) -> int:
    """The highest version ever pushed according to the marker file (0 when absent/garbled)."""
    try:
        return int(files.read_text(join(model_root, MARKER)).strip() or 0)
    except (ValueError, OSError):  # absent (FileNotFoundError), unreadable or garbled
        return 0


def write_marker(model_root: str, version: int) -> None:
    """Record ``version`` as pushed: the marker becomes max(marker, version).

    Written atomically (:func:`components.files.write_atomically`), never half-written.
    """
    version = max(version, read_marker(model_root))
    files.write_atomically(join(model_root, MARKER), f"{version}\n")


def next_version(model_root: str) -> int:
    """One more than the highest version that exists or was ever pushed under ``model_root``."""
    existing = integer_versions(model_root)
    return max([read_marker(model_root), *existing, 0]) + 1


def prune(model_root: str, keep: int, protect: int | None = None) -> list[int]:
    """Delete all but the newest ``keep`` versions; never the version ``protect``.

    Each doomed version is first renamed to a hidden name (atomic on POSIX, so a reader sees
    it whole or not at all), then deleted. Returns the deleted version numbers, oldest first.
    """
    versions = integer_versions(model_root)
    doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v != protect]
    for version in doomed:
        path = join(model_root, str(version))
        if files.is_remote(model_root):
            files.remove_tree(path)
            continue
        trash = join(model_root, f".tmp-delete-{version}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(path, trash)
        except FileNotFoundError:  # removed meanwhile by another push
            continue
        shutil.rmtree(trash, ignore_errors=True)
    return doomed
