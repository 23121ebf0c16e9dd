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

from components.artifacts.files import join
from components.artifacts.serving import integer_versions

MARKER = ".last_version"


def read_marker(model_root: str) -> int:
    """The highest version ever pushed according to the marker file (0 when absent/garbled)."""
    from tensorflow.io import gfile

    path = join(model_root, MARKER)
    try:
        with gfile.GFile(path) as f:
            return int(f.read().strip() or 0)
    except (ValueError, OSError):
        return 0
    except Exception as err:  # tf.errors.NotFoundError and friends
        if type(err).__name__.endswith("NotFoundError"):
            return 0
        raise


def write_marker(model_root: str, version: int) -> None:
    """Record ``version`` as pushed: the marker becomes max(marker, version).

    Written to a temporary file and renamed, so the marker is never half-written.
    """
    from tensorflow.io import gfile

    version = max(version, read_marker(model_root))
    tmp = join(model_root, f".tmp-marker-{uuid.uuid4().hex[:8]}")
    with gfile.GFile(tmp, "w") as f:
        f.write(f"{version}\n")
    gfile.rename(tmp, join(model_root, MARKER), overwrite=True)


def next_version(model_root: str) -> int:
    """One more than the highest version that exists or was ever pushed under ``model_root``."""
    existing = integer_versions(model_root)
    return max([read_marker(model_root), *existing, 0]) + 1


def prune(model_root: str, keep: int, protect: int | None = None) -> list[int]:
    """Delete all but the newest ``keep`` versions; never the version ``protect``.

    Each doomed version is first renamed to a hidden name (atomic on POSIX, so a reader sees
    it whole or not at all), then deleted. Returns the deleted version numbers, oldest first.
    """
    from tensorflow.io import gfile

    versions = integer_versions(model_root)
    doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v != protect]
    for version in doomed:
        path = join(model_root, str(version))
        if "://" in model_root:
            gfile.rmtree(path)
            continue
        trash = join(model_root, f".tmp-delete-{version}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(path, trash)
        except FileNotFoundError:  # removed meanwhile by another push
            continue
        shutil.rmtree(trash, ignore_errors=True)
    return doomed
