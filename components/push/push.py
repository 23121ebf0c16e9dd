"""The push step: copy a blessed SavedModel into the next version of the serving root.

``<serving_root>/<model_name>/<version>/`` receives the SavedModel files directly
(``saved_model.pb``, ``variables/``, ...; TensorFlow Serving layout) plus ``labels.json``,
``detector_config.json``, ``model.weights.h5`` (so the version can warm-start training) and
``push.json`` (version, metrics, source model, data fingerprint, time in UTC, and
``trained_on``: what the check-changes step of the next run compares) and the model card
(``model_card.json``, ``model_card.md``: ``components.push.model_card``); with
``export_formats``, the model in other serving formats, ``exports/<format>/``
(``components.push.exports``: ``nasdet export``'s folder with its parity record; a format that
fails its check refuses the push). Beside the versions, ``<serving_root>/<model_name>/
inferenceservice.yaml`` is the KServe InferenceService serving that folder
(``components.serve.manifest``), rewritten by every push.

Before it is published, the staged copy gets its exports and
``assets.extra/tf_serving_warmup_requests`` and is load-checked in a fresh process
(``components.push.readiness``): loaded from its files, its warm-up requests replayed, the
outputs compared with the source model's; a copy that does not load or answers differently is
refused and nothing is published. ``push.json`` records the check (``load_check``).

Guarantees:
- Local (POSIX) file systems: the version is written in a hidden temporary sibling
  (``.tmp-push-...``) and renamed into place with one ``rename(2)``, so a server polling the
  directory sees a version complete or not at all. Two pushes at once never collide: when
  another push took the number first, the rename fails and the push retries with the next one.
  A push that fails or is interrupted (an exception, Ctrl-C, SIGTERM as sent by Kubernetes)
  before its rename removes its temporary directory and leaves the serving root as it was. A
  process killed outright (SIGKILL) can leave a hidden ``.tmp-push-*`` directory: readers ignore
  it, and the next push deletes it once it is an hour old.
- Object stores (gs://, s3://: the file systems of ``components.files``): there is no atomic
  rename; the version is staged under a hidden prefix, then copied to the version prefix with
  ``saved_model.pb`` last, then the staging prefix is deleted. A poller can see the version's
  prefix before it is complete (TF Serving retries failed loads); concurrent pushes to the same
  object-store model are not serialised.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

from components import files
from components.artifacts import serving
from components.artifacts.evaluation import read_blessing
from components.artifacts.model import SAVED_MODEL_PB, locate_model, model_fingerprint
from components.errors import UserError
from components.files import join
from components.push import exports, model_card, readiness, versions
from components.serve import manifest

MAX_ATTEMPTS = 50
TMP_PREFIX = ".tmp-push-"
STALE_SECONDS = 3600.0


Records = Callable[[str, dict], None]  # writes push.json and the model card into a folder


def _stage(location, tmp: str, record: dict, write_records: Records) -> None:
    """Write the SavedModel, labels, config, ``push.json`` and the card of the version into
    ``tmp`` (and a source version's ``exports/``)."""
    files.make_dirs(tmp)
    files.copy_tree(
        location.saved_model_dir,
        tmp,
        skip=(serving.PUSH_FILE, model_card.CARD_JSON, model_card.CARD_MD),
        last=(SAVED_MODEL_PB,),
    )
    if location.layout == "artifact":
        for name in serving.EXTRA_FILES:
            if files.is_file(join(location.root, name)):
                files.copy(join(location.root, name), join(tmp, name))
    write_records(tmp, record)


def _publish_local(tmp: str, model_root: str, record: dict, write_records: Records) -> int:
    """Rename ``tmp`` to the next free version under local ``model_root``; return it."""
    for _ in range(MAX_ATTEMPTS):
        version = versions.next_version(model_root)
        final = join(model_root, str(version))
        if os.path.exists(final):  # a concurrent push took it: try the next number
            versions.write_marker(model_root, version)
            continue
        record["version"] = version
        write_records(tmp, record)
        try:
            os.rename(tmp, final)
        except OSError as err:
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                versions.write_marker(model_root, version)
                continue
            raise
        return version
    raise UserError(f"could not find a free version under {model_root} after {MAX_ATTEMPTS} tries")


def _publish_remote(tmp: str, model_root: str, record: dict, write_records: Records) -> int:
    """Copy staged ``tmp`` to the next version under object-store ``model_root``; return it."""
    version = versions.next_version(model_root)
    record["version"] = version
    write_records(tmp, record)
    files.copy_tree(tmp, join(model_root, str(version)), last=(SAVED_MODEL_PB,))
    files.remove_tree(tmp)
    return version


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (so ``finally`` clean-up runs).

    Kubernetes stops a pod with SIGTERM, whose default action ends Python without clean-up.
    Only possible in the main thread; elsewhere the block runs unchanged. The previous handler
    is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def remove_stale_temporaries(model_root: str, older_than: float = STALE_SECONDS) -> list[str]:
    """Delete hidden ``.tmp-*`` directories under local ``model_root`` untouched for a while.

    They are what a push killed outright (SIGKILL, power loss) leaves behind; one younger than
    ``older_than`` seconds may belong to a push still running and is kept. Returns the names.
    """
    removed = []
    now = time.time()
    for name in os.listdir(model_root) if os.path.isdir(model_root) else []:
        path = os.path.join(model_root, name)
        if name.startswith(".tmp-") and os.path.isdir(path):
            try:
                if now - os.path.getmtime(path) > older_than:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(name)
            except FileNotFoundError:  # removed meanwhile
                continue
    return removed


def run(
    model_dir: str,
    blessing_file: str,
    serving_root: str,
    model_name: str,
    keep: int | None = None,
    trained_on: dict | None = None,
    serving_options: manifest.ServingOptions | None = None,
    export_formats: Sequence[str] = (),
) -> dict:
    """Push the blessed model in ``model_dir`` to ``serving_root/model_name/<next version>``.

    Args:
        model_dir: the Model artifact (or a pushed version) that was evaluated.
        blessing_file: the evaluation's ``blessing.json``.
        serving_root: the serving volume or object-store URI.
        model_name: the model's folder under ``serving_root`` (no ``/``, not hidden).
        keep: with a number, only the newest ``keep`` versions remain afterwards.
        trained_on: what the model was trained from (the Changes artifact's ``trained_on``:
            Examples, settings and code digests, parameters), recorded in ``push.json`` so that
            the next run can tell whether anything changed. None: not recorded (the next run
            then counts the version as changed).
        serving_options: the KServe InferenceService's options (the pipeline's profile; None:
            the defaults, and no PVC known), written as ``inferenceservice.yaml`` beside the
            versions when a server can read the serving root (a URI, or a path on a PVC).
        export_formats: names of ``components.export.formats.FORMATS``: each is exported from
            the model, parity-checked and written to ``<version>/exports/<format>/``
            (``components.push.exports``); one that fails refuses the push.

    Returns:
        ``{"version", "path", "pruned", "model_card", "load_check", "exports",
        "inference_service"}``: the new integer version, its folder, the versions removed, the
        card's Markdown file, the load check, the exported formats (``push.json``'s
        ``exports``), the InferenceService file written (None when none could be).

    Raises:
        UserError: the blessing says not blessed or was made for another model, bad options,
            or an export format that is unknown, not installed or fails its parity check;
            nothing is published then.
    """
    export_formats = exports.check(export_formats)
    if keep is not None and keep < 1:
        raise UserError(f"--keep must be at least 1, got {keep}")
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise UserError(f"invalid model name {model_name!r}")
    decision = read_blessing(blessing_file)
    if not decision["blessed"]:
        why = " ".join(decision.get("reasons") or []) or "no reasons given"
        raise UserError(f"refusing to push {model_dir}: it is not blessed ({why})")
    location = locate_model(model_dir)
    fingerprint = model_fingerprint(location.saved_model_dir)
    blessed_fp = decision.get("model_fingerprint")
    if blessed_fp and blessed_fp != fingerprint:
        raise UserError(
            f"refusing to push {model_dir}: {blessing_file} blesses another model "
            f"({decision.get('model', 'unknown')}); its SavedModel files differ"
        )
    model_root = serving.model_root(serving_root, model_name)
    files.make_dirs(model_root)
    record = {
        "model_name": model_name,
        "pushed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "source_model": model_dir,
        "model_fingerprint": fingerprint,
        "data_fingerprint": decision.get("data_fingerprint"),
        "examples": decision.get("examples"),
        "metrics": decision.get("candidate"),
        # The best-F1 score threshold on the test split: nasdet predict's default for this version.
        "operating_point": decision.get("operating_point"),
        "blessing": {"blessed": True, "reasons": decision.get("reasons", [])},
    }
    if trained_on is not None:
        record[serving.TRAINED_ON] = trained_on

    def write_records(directory: str, record: dict) -> None:
        serving.write_push_record(directory, record)
        model_card.write(directory, model_card.build(location, decision, record))

    result = publish_version(
        location,
        model_root,
        record,
        write_records,
        keep,
        examples=decision.get("examples"),
        export_formats=export_formats,
    )
    result["inference_service"] = manifest.write_beside_versions(
        serving_root, model_name, serving_options
    )
    return result


def publish_version(
    location,
    model_root: str,
    record: dict,
    write_records: Records,
    keep: int | None = None,
    examples: str | None = None,
    export_formats: Sequence[str] | None = None,
) -> dict:
    """Publish the SavedModel at ``location`` as the next version under ``model_root``.

    ``write_records(folder, record)`` writes ``push.json`` and the model card (``record`` gets
    its ``version`` first). With ``export_formats`` (a push) the staged copy gets those formats
    in ``exports/`` (``record["exports"]``) and a source version's own exports are left out;
    with None (a rollback) the source's ``exports/`` are copied as they are. The staged copy
    then gets its TF Serving warm-up requests (images of the test split of ``examples`` when
    readable) and must pass the load check in a fresh process (:mod:`components.push.readiness`;
    the result is ``record["load_check"]``) before it is published: renamed into place locally,
    copied ``saved_model.pb`` last on object stores; then the versions beyond the newest
    ``keep`` are removed. Returns ``{"version", "path", "pruned", "model_card", "load_check",
    "exports"}``; a format or a copy that fails its check raises UserError and nothing is
    published.
    """
    remote = files.is_remote(model_root)
    if not remote:
        remove_stale_temporaries(model_root)
    tmp = join(model_root, f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}")
    with sigterm_as_interrupt():
        try:
            _stage(location, tmp, record, write_records)
            if export_formats is not None:
                files.remove_tree(join(tmp, serving.EXPORTS_DIR))  # a source version's own
                record["exports"] = exports.write(location, tmp, export_formats, examples)
            record["load_check"] = readiness.prepare(
                location.saved_model_dir, tmp, files.basename(model_root), examples
            )
            publish = _publish_remote if remote else _publish_local
            version = publish(tmp, model_root, record, write_records)
        finally:
            files.remove_tree(tmp)  # nothing is left there after a local publish
    versions.write_marker(model_root, version)
    pruned = versions.prune(model_root, keep, protect=version) if keep else []
    path = join(model_root, str(version))
    return {
        "version": version,
        "path": path,
        "pruned": pruned,
        "model_card": join(path, model_card.CARD_MD),
        "load_check": record["load_check"],
        "exports": record.get("exports") or {},
    }
