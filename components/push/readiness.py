"""Before a staged version is published: write its warm-up requests, then load-check it.

:func:`prepare` is called on the staged (not yet renamed) version folder:

1. it writes ``assets.extra/tf_serving_warmup_requests`` (:mod:`components.push.warmup`);
2. it computes the reference outputs: the SOURCE SavedModel (the Model artifact the push was
   given, whose files the blessing's fingerprint ties to what evaluate scored; for a rollback
   the version re-published) run through ``serving_default`` on the warm-up images, in this
   process. Evaluate's Evaluation artifact holds metrics, not per-image outputs, and it ran
   the ``evaluation`` signature (COCO score floor) rather than ``serving_default``, so its
   detections are not the ones a served request returns;
3. it runs ``python -m components.push.load_check`` in a fresh process on the staged copy
   (downloaded to a local folder first when it lies on an object store): the copy is loaded
   from its files alone, its warm-up requests replayed and the outputs compared with the
   reference within :data:`components.push.load_check.DEFAULT_TOLERANCE`.

A copy that does not load or answers differently is refused with a one-line UserError and
the caller publishes nothing. The result, recorded in ``push.json`` as ``load_check``, says
what was compared, how far apart and how long it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from components import files
from components.errors import UserError
from components.push import load_check, warmup

TIMEOUT_SECONDS = 900
REFERENCE = (
    "serving_default of the source SavedModel (the files the blessing's fingerprint names), "
    "run by the push step on the warm-up images"
)
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reference_outputs(saved_model_dir: str, images: list) -> list[dict[str, np.ndarray]]:
    """``serving_default`` of the (local) SavedModel on each image, as a batch of one."""
    import tensorflow as tf

    serve = tf.saved_model.load(saved_model_dir).signatures[warmup.SIGNATURE]
    outputs = []
    for image in images:
        out = serve(**{warmup.INPUT_KEY: tf.constant(image[None], tf.uint8)})
        outputs.append({k: v.numpy() for k, v in out.items()})
    return outputs


def run_load_check(saved_model_dir: str, expected_file: str, tolerance: float) -> dict:
    """Run the load check on the local ``saved_model_dir`` in a fresh Python process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p
    )
    argv = [
        sys.executable,
        "-m",
        "components.push.load_check",
        "--saved-model",
        saved_model_dir,
        "--expected",
        expected_file,
        "--tolerance",
        repr(tolerance),
    ]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return {"passed": False, "reason": f"the load check took over {TIMEOUT_SECONDS} s"}
    lines = [s for s in proc.stdout.splitlines() if s.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = [s for s in proc.stderr.splitlines() if s.strip()]
        why = load_check.one_line(tail[-1]) if tail else "no output"
        return {"passed": False, "reason": f"the load check exited with {proc.returncode}: {why}"}
    if proc.returncode != 0 and result.get("passed"):
        result = {**result, "passed": False, "reason": f"exit status {proc.returncode}"}
    return result


def _local(path: str, scratch: str, name: str) -> str:
    """``path`` itself when local, else a copy of its files under ``scratch/name``."""
    if not files.is_remote(path):
        return path
    local = os.path.join(scratch, name)
    files.copy_tree(path, local)
    return local


def prepare(
    source_saved_model_dir: str,
    staged_dir: str,
    model_name: str,
    examples_dir: str | None = None,
    tolerance: float = load_check.DEFAULT_TOLERANCE,
) -> dict:
    """Write the warm-up requests into ``staged_dir`` and load-check it; return the result.

    Raises UserError (one line) when the staged version does not load or does not answer its
    warm-up requests as the source does.
    """
    start = time.perf_counter()
    images, image_source = warmup.warmup_images(examples_dir)
    warmup.write(staged_dir, warmup.build_records(images, model_name))
    with tempfile.TemporaryDirectory(prefix="nasdet-load-check-") as scratch:
        source = _local(source_saved_model_dir, scratch, "source")
        try:
            expected = reference_outputs(source, images)
        except Exception as err:  # noqa: BLE001 - the source itself does not run
            raise UserError(
                f"cannot run the source model {source_saved_model_dir}: "
                f"{type(err).__name__}: {load_check.one_line(err)}"
            ) from err
        expected_file = os.path.join(scratch, "expected.npz")
        load_check.write_expected(expected_file, expected)
        result = run_load_check(_local(staged_dir, scratch, "staged"), expected_file, tolerance)
    fresh = result.get("pid") not in (None, os.getpid())
    if not result.get("passed"):
        raise UserError(
            f"the staged version failed its load check, nothing was published: "
            f"{result.get('reason')}"
        )
    result = {k: v for k, v in result.items() if k not in ("pid", "reason")}
    return {
        **result,
        "tolerance": tolerance,
        "fresh_process": fresh,
        "reference": REFERENCE,
        "images": image_source,
        "warmup_file": warmup.WARMUP_PATH,
        "seconds": round(time.perf_counter() - start, 3),
    }
