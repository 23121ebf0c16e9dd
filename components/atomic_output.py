"""Write an output directory through a temporary sibling, renamed into place on success."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator

from components.artifacts.files import is_remote


@contextlib.contextmanager
def atomic_output_dir(path: str) -> Iterator[str]:
    """Yield a temporary sibling of local directory ``path``; rename it to ``path`` on success.

    A failure (any exception) removes the temporary directory, so no half-written artifact is
    left behind. An existing *empty* ``path`` (KFP creates output folders up front) is replaced;
    an existing non-empty ``path`` is replaced as a whole only after the new content is complete.
    Object-store URIs are not supported here: steps that accept them stage locally and copy.
    """
    if is_remote(path):
        raise ValueError(f"atomic_output_dir needs a local path, got {path}")
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
    elif os.path.exists(path):
        old = f"{tmp}.old"
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.rename(tmp, path)
