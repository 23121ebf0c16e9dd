"""How the ingest step runs: in this process for small inputs, a Beam pipeline otherwise.

With no ``--beam-arg`` the choice is by input size: below ``MULTI_PROCESSING_MIN_IMAGES`` images
(or on one core) the step runs in process (``components.ingest.in_process``: the same
``shard_work`` functions as the Beam graph, same bytes out, no Beam start-up); from there on it
runs the Beam graph on the DirectRunner's batch engine, the ``FnApiRunner``, in
``multi_processing`` mode with one worker per core (at most ``MAX_WORKERS``). Measured with
``benchmarks/ingest.py`` (coco128 + raccoon JPEGs, 2 cores): validation costs about 5 ms of CPU
per image whatever runs it; Beam ``multi_processing`` costs about 3 s of fixed start-up (importing
Beam, the worker processes, the graph) and then runs about 1.8x the in-process rate, so it pays off
from roughly 1,500 images on two free cores.

Any ``--beam-arg`` selects Beam. The ``FnApiRunner`` is named explicitly when no runner is given:
Beam 2.77's ``DirectRunner`` first tries the Prism runner, which downloads a binary from GitHub
at run time (impossible on air-gapped clusters) and ignores the running mode.
``--beam-arg=--runner=DirectRunner`` still selects Beam's own choice, and
``--beam-arg=--direct_running_mode=in_memory`` runs the Beam graph in one process.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from components.errors import UserError

MULTI_PROCESSING_MIN_IMAGES = 1500
MAX_WORKERS = 8
IN_PROCESS = "in_process"
BEAM = "beam"
_MODE_FLAGS = ("--direct_running_mode", "--direct_num_workers")


@dataclasses.dataclass(frozen=True)
class RunningMode:
    """The chosen engine (``IN_PROCESS`` or ``BEAM``), the Beam args to use, a one-line description."""

    engine: str
    beam_args: list[str]
    description: str


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
    beam_args: Sequence[str],
    num_images: int,
    cpus: int | None = None,
    in_process: bool | None = None,
) -> RunningMode:
    """Return how to run an ingest of ``num_images`` images.

    ``beam_args`` are the user's ``--beam-arg`` values; ``cpus`` the usable cores (default: this
    process's CPU affinity); ``in_process`` forces the engine (None: choose as the module
    docstring says; True is refused together with ``beam_args``). Raises ``UserError`` for an
    unknown ``--runner``.
    """
    args = list(beam_args)
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    if in_process and args:
        raise UserError("--beam-arg options need the Beam engine, not the in-process one")
    if in_process:
        return RunningMode(IN_PROCESS, [], "in process, no Beam (requested)")
    if in_process is None and not args:
        if cpus < 2:
            return RunningMode(IN_PROCESS, [], "in process, no Beam (1 core)")
        if num_images < MULTI_PROCESSING_MIN_IMAGES:
            why = f"< {MULTI_PROCESSING_MIN_IMAGES} images"
            return RunningMode(IN_PROCESS, [], f"in process, no Beam ({why})")
    return _beam(args, num_images, cpus)


def _beam(args: list[str], num_images: int, cpus: int) -> RunningMode:
    """Return the Beam running mode for ``args`` (the user's) and the input size."""
    runner = _flag_value(args, "--runner")
    if runner is not None:
        _check_runner(runner)
    if runner is not None and runner.split(".")[-1] not in ("DirectRunner", "direct"):
        return RunningMode(BEAM, args, f"{runner} (from --beam-arg)")
    if _flag_value(args, "--default_sdk_harness_log_level") is None:
        args = args + ["--default_sdk_harness_log_level=WARNING"]
    if any(_flag_value(args, flag) is not None for flag in _MODE_FLAGS):
        mode = _flag_value(args, "--direct_running_mode") or "in_memory"
        workers = _flag_value(args, "--direct_num_workers") or "1"
        return RunningMode(
            BEAM, args, f"DirectRunner {mode}, {workers} worker(s) (from --beam-arg)"
        )
    if num_images >= MULTI_PROCESSING_MIN_IMAGES and cpus >= 2:
        workers = min(cpus, MAX_WORKERS)
        chosen = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        why = f">= {MULTI_PROCESSING_MIN_IMAGES} images"
        return RunningMode(
            BEAM, args + chosen, f"DirectRunner multi_processing, {workers} workers ({why})"
        )
    why = f"< {MULTI_PROCESSING_MIN_IMAGES} images" if cpus >= 2 else "1 core"
    return RunningMode(
        BEAM, args + ["--direct_running_mode=in_memory"], f"DirectRunner in_memory ({why})"
    )


def _check_runner(name: str) -> None:
    """Raise ``UserError`` when Beam does not know the runner ``name``."""
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, ImportError) as err:
        raise UserError(f"--beam-arg --runner={name}: {err}") from None


def make_pipeline(args: Sequence[str]):
    """Return a ``beam.Pipeline`` for ``args``: the ``FnApiRunner`` when ``args`` name no runner.

    The ``FnApiRunner`` gets the options in its provision info (as the DirectRunner does), so
    worker processes see them (log level, running mode).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

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
