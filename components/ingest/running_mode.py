"""Beam pipeline options for the ingest step: the user's ``--beam-arg`` s, or a choice by input size.

When the user names no runner, the pipeline runs on the DirectRunner's batch engine, the
``FnApiRunner``, named explicitly: Beam 2.77's ``DirectRunner`` first tries the Prism runner, which
downloads a binary from GitHub at run time (impossible on air-gapped clusters) and ignores the
running mode below. ``--beam-arg=--runner=DirectRunner`` still selects Beam's own choice.

When the user names no DirectRunner running mode either, the ``FnApiRunner`` runs ``in_memory``
(one process) for small inputs and ``multi_processing`` with one worker per core (at most
``MAX_WORKERS``) from ``MULTI_PROCESSING_MIN_IMAGES`` images on. Measured with
``benchmarks/ingest.py`` (coco128 + raccoon JPEGs, 2 cores): validation costs about 5 ms of CPU
per image in every mode; in_memory starts in about 2.9 CPU-seconds, multi_processing in about
6 (each worker process imports Beam and Pillow; no TensorFlow). On two free cores that makes
multi_processing faster from roughly 570 images on; on a saturated machine the workers gain
nothing, and in_memory stays cheaper.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from components.errors import UserError

MULTI_PROCESSING_MIN_IMAGES = 600
MAX_WORKERS = 8
_MODE_FLAGS = ("--direct_running_mode", "--direct_num_workers")


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    """Return the value of ``--flag=value`` or ``--flag value`` in ``args`` (last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(args):
            value = args[i + 1]
    return value


def choose(
    beam_args: Sequence[str], num_images: int, cpus: int | None = None
) -> tuple[list[str], str]:
    """Return ``(beam args to use, one-line description of the choice)``.

    ``beam_args`` are the user's ``--beam-arg`` values; ``num_images`` the input size; ``cpus``
    the usable cores (default: this process's CPU affinity). Raises ``UserError`` for an unknown
    ``--runner``.
    """
    args = list(beam_args)
    runner = _flag_value(args, "--runner")
    if runner is not None:
        _check_runner(runner)
    if runner is not None and runner.split(".")[-1] not in ("DirectRunner", "direct"):
        return args, f"{runner} (from --beam-arg)"
    if _flag_value(args, "--default_sdk_harness_log_level") is None:
        args.append("--default_sdk_harness_log_level=WARNING")
    if any(_flag_value(args, flag) is not None for flag in _MODE_FLAGS):
        mode = _flag_value(args, "--direct_running_mode") or "in_memory"
        workers = _flag_value(args, "--direct_num_workers") or "1"
        return args, f"DirectRunner {mode}, {workers} worker(s) (from --beam-arg)"
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    if num_images >= MULTI_PROCESSING_MIN_IMAGES and cpus >= 2:
        workers = min(cpus, MAX_WORKERS)
        chosen = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        why = f">= {MULTI_PROCESSING_MIN_IMAGES} images"
        return args + chosen, f"DirectRunner multi_processing, {workers} workers ({why})"
    why = f"< {MULTI_PROCESSING_MIN_IMAGES} images" if cpus >= 2 else "1 core"
    return args + ["--direct_running_mode=in_memory"], f"DirectRunner in_memory ({why})"


def _check_runner(name: str) -> None:
    """Raise ``UserError`` when Beam does not know the runner ``name``."""
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, ImportError) as err:
        raise UserError(f"--beam-arg --runner={name}: {err}") from None


def make_pipeline(args: Sequence[str]) -> beam.Pipeline:
    """Return a ``beam.Pipeline`` for ``args``: the ``FnApiRunner`` when ``args`` name no runner.

    The ``FnApiRunner`` gets the options in its provision info (as the DirectRunner does), so
    worker processes see them (log level, running mode).
    """
    options = PipelineOptions(list(args))
    if _flag_value(args, "--runner") is not None:
        return beam.Pipeline(options=options)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    )
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=provision), options=options)
