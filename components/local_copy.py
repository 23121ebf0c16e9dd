"""Local copies for the libraries that need local paths, of files and folders that may be URIs.

Keras loads weights from a local ``.h5`` file; TensorFlow checkpoints, Keras' TensorBoard logs
and KerasTuner's project folder are written on a local file system. The files they come from
(a pushed version used as ``warm_start``) and the working folder a step resumes from
(``checkpoint_root``) may be object-store URIs (``gs://``, ``s3://``). Both go through
:mod:`components.files`:

- :func:`local_file`: a file, copied into a temporary folder while it is used;
- :func:`local_work_dir`: a step's working folder ``home``. A local path is used as it is:
  nothing is copied and :meth:`WorkDir.sync` does nothing, so local runs behave as they
  always did. A URI is staged down into a local folder when the step starts, and
  :meth:`WorkDir.sync` (called after each epoch or trial) uploads the files that changed since
  the last sync, the ``last`` names last, then deletes the files the library deleted (old
  checkpoints). The ``last`` file says which checkpoint is current (the train step's
  ``state.json``, KerasTuner's ``oracle.json``) and what it names is uploaded before it and
  deleted only after it: a process killed during a sync leaves the previous one, complete,
  and the next attempt resumes from the previous epoch or trial.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from components import files
from components.errors import UserError

STAGING_DIR = "nasdet-work"  # under the temporary folder: the local copies of URI work folders


@contextlib.contextmanager
def local_file(path: str) -> Iterator[str]:
    """Yield a local path holding the file ``path``: ``path`` itself when it is local, else a
    copy with the same name (libraries read the suffix, e.g. ``.weights.h5``), removed after."""
    if not files.is_remote(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="nasdet-") as tmp:
        local = os.path.join(tmp, files.basename(path))
        files.copy(path, local)
        yield local


def staging_path(home: str) -> str:
    """The local folder that holds the copy of the URI working folder ``home``.

    The same URI gets the same folder in every process and pod, so the local paths a library
    records in its files (the checkpoint ``state.json`` names, a backbone copy in the training
    fingerprint) are the same when another attempt resumes from them.
    """
    digest = hashlib.sha256(files.absolute(home).encode("utf-8")).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), STAGING_DIR, digest)


def _stamps(root: str) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file below the local folder ``root`` (by relative
    path with ``/``)."""
    stamps = {}
    for rel in files.walk_files(root):
        try:
            stat = os.stat(os.path.join(root, *rel.split("/")))
        except FileNotFoundError:  # deleted while walking
            continue
        stamps[rel] = (stat.st_size, stat.st_mtime_ns)
    return stamps


class WorkDir:
    """A step's working folder: ``home`` (where it persists: a local path or a URI) and
    ``local`` (where the libraries write; ``home`` itself when it is local)."""

    def __init__(self, home: str, local: str, last: Iterable[str] = ()) -> None:
        self.home = home
        self.local = local
        self.last = frozenset(last)
        self._synced: dict[str, tuple[int, int]] = {}

    @property
    def remote(self) -> bool:
        """Whether ``home`` is a URI (``local`` is then a copy)."""
        return files.is_remote(self.home)

    def stage_down(self) -> int:
        """Replace the local copy with the content of ``home``; return how many files came."""
        shutil.rmtree(self.local, ignore_errors=True)
        os.makedirs(self.local)
        count = files.copy_tree(self.home, self.local)
        self._synced = _stamps(self.local)
        return count

    def sync(self) -> int:
        """Bring ``home`` up to date with the local copy; return how many files were uploaded.

        Changed and new files are uploaded (the ``last`` names last), then the files gone
        locally since the last sync are deleted. Nothing to do when ``home`` is local.
        """
        if not self.remote:
            return 0
        stamps = _stamps(self.local)
        changed = [rel for rel, stamp in stamps.items() if self._synced.get(rel) != stamp]
        changed.sort(key=lambda rel: (files.basename(rel) in self.last, rel))
        for rel in changed:
            files.copy(os.path.join(self.local, *rel.split("/")), files.join(self.home, rel))
        for rel in sorted(set(self._synced) - set(stamps)):
            files.remove_tree(files.join(self.home, rel))
        self._synced = stamps
        return len(changed)

    def remove(self) -> None:
        """Delete the working folder (the step succeeded): ``home`` and the local copy."""
        if self.remote:
            shutil.rmtree(self.local, ignore_errors=True)
        files.remove_tree(self.home)


@contextlib.contextmanager
def local_work_dir(home: str, last: Iterable[str] = ()) -> Iterator[WorkDir]:
    """Yield the :class:`WorkDir` of ``home``: a URI is staged down first (see the module
    docstring) and its local copy removed at the end; a local ``home`` is used in place."""
    if not files.is_remote(home):
        yield WorkDir(home, home, last)
        return
    work = WorkDir(files.absolute(home), staging_path(home), last)
    try:
        work.stage_down()
    except Exception as err:  # unknown scheme, credentials, permissions, network
        shutil.rmtree(work.local, ignore_errors=True)
        reason = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise UserError(f"cannot read the working folder {home}: {reason}") from None
    try:
        yield work
    finally:
        shutil.rmtree(work.local, ignore_errors=True)
