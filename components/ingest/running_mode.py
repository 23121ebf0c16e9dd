"""How the ingest step runs: in this process, or as a Beam pipeline, chosen by size and cores.

With no ``--beam-arg`` the step runs in process (``components.ingest.in_process``: the same
``shard_work`` functions as the Beam graph, same bytes out, threads instead of worker
processes, no Beam start-up) unless the DirectRunner's ``multi_processing`` mode (the Beam graph
on the ``FnApiRunner``, one worker process per core, at most ``MAX_WORKERS``) is expected to be
faster: from ``multi_processing_min_images(cores)`` images on. The rates behind it were
measured with ``benchmarks/ingest.py`` on 2 free cores (coco128 + raccoon JPEGs): in process
about ``IN_PROCESS_IMAGES_PER_S`` (both cores busy), Beam about ``BEAM_IMAGES_PER_S_PER_WORKER``
per worker after ``BEAM_EXTRA_START_S`` more start-up (importing Beam, starting the workers,
running the graph). On two cores Beam never pays off (measured). For more cores it is an
estimate, cautious towards Beam: Beam is assumed to scale with its workers, the in-process
engine not at all (its threads do use more cores, but the Python parts hold the GIL). That gives
about 4,200 images on 4 cores and 2,000 on 8.
Cores are counted by ``cpus.usable_cpus`` (affinity capped by the cgroup CPU quota).

Any ``--beam-arg`` selects Beam. The ``FnApiRunner`` is named explicitly when no runner is given:
Beam 2.77's ``DirectRunner`` first tries the Prism runner, which downloads a binary from GitHub
at run time (impossible on air-gapped clusters) and ignores the running mode.
``--beam-arg=--runner=DirectRunner`` still selects Beam's own choice, and
``--beam-arg=--direct_running_mode=in_memory`` runs the Beam graph in one process.

Any other runner (Flink, Spark, Dataflow, Dask, the portable runner) is *remote*: its workers
may not see this process's disk, so the graph writes under the Beam option ``--temp_location``
(a shared volume or an object-store URI every worker can write), and the step copies the result
into the output directory (see ``components.ingest.step``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from components.errors import UserError
from components.ingest.cpus import usable_cpus

MAX_WORKERS = 8
IN_PROCESS_IMAGES_PER_S = 400.0
BEAM_IMAGES_PER_S_PER_WORKER = 145.0
BEAM_EXTRA_START_S = 3.2
IN_PROCESS = "in_process"
BEAM = "beam"
_MODE_FLAGS = ("--direct_running_mode", "--direct_num_workers")
TEMP_LOCATION = "--temp_location"
# Runners whose workers share this process's disk; any other runner's workers may not.
LOCAL_RUNNERS = frozenset(
    {"DirectRunner", "direct", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner"}
)


@dataclasses.dataclass(frozen=True)
class RunningMode:
    """The chosen engine (``IN_PROCESS`` or ``BEAM``), the Beam args to use, a one-line description."""

    engine: str
    beam_args: list[str]
    description: str
    remote: bool = False

    @property
    def temp_location(self) -> str | None:
        """The ``--temp_location`` Beam option: where remote workers stage the output."""
        return _flag_value(self.beam_args, TEMP_LOCATION)


def multi_processing_min_images(cpus: int) -> int | None:
    """Return the input size from which Beam ``multi_processing`` beats the in-process engine.

    None when it never does on ``cpus`` cores. Rounded up to hundreds.
    """
    beam_rate = BEAM_IMAGES_PER_S_PER_WORKER * min(cpus, MAX_WORKERS)
    if cpus < 2 or beam_rate <= IN_PROCESS_IMAGES_PER_S:
        return None
    saved_per_image = 1.0 / IN_PROCESS_IMAGES_PER_S - 1.0 / beam_rate
    return int(math.ceil(BEAM_EXTRA_START_S / saved_per_image / 100.0) * 100)


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

    ``beam_args`` are the user's ``--beam-arg`` values; ``cpus`` the usable cores (default:
    ``cpus.usable_cpus()``, the affinity capped by the cgroup CPU quota); ``in_process`` forces
    the engine (None: choose as the module docstring says; True is refused together with
    ``beam_args``). Raises ``UserError`` for an unknown ``--runner``.
    """
    args = list(beam_args)
    cpus = cpus if cpus is not None else usable_cpus()
    if in_process and args:
        raise UserError("--beam-arg options need the Beam engine, not the in-process one")
    if in_process:
        return RunningMode(IN_PROCESS, [], "in process, no Beam (requested)")
    threshold = multi_processing_min_images(cpus)
    if in_process is None and not args:
        if threshold is None:
            why = f"{cpus} core(s): Beam multi_processing would not be faster"
            return RunningMode(IN_PROCESS, [], f"in process, no Beam ({why})")
        if num_images < threshold:
            why = f"< {threshold} images on {cpus} cores"
            return RunningMode(IN_PROCESS, [], f"in process, no Beam ({why})")
    return _beam(args, num_images, cpus, threshold)


def _beam(args: list[str], num_images: int, cpus: int, threshold: int | None) -> RunningMode:
    """Return the Beam running mode for ``args`` (the user's), the input size and the cores."""
    runner = _flag_value(args, "--runner")
    if runner is not None:
        _check_runner(runner)
    short = runner.split(".")[-1] if runner is not None else None
    if runner is not None and short not in ("DirectRunner", "direct"):
        remote = short not in LOCAL_RUNNERS
        return RunningMode(BEAM, args, f"{runner} (from --beam-arg)", remote=remote)
    if _flag_value(args, "--default_sdk_harness_log_level") is None:
        args = args + ["--default_sdk_harness_log_level=WARNING"]
    if any(_flag_value(args, flag) is not None for flag in _MODE_FLAGS):
        mode = _flag_value(args, "--direct_running_mode") or "in_memory"
        workers = _flag_value(args, "--direct_num_workers") or "1"
        return RunningMode(
            BEAM, args, f"DirectRunner {mode}, {workers} worker(s) (from --beam-arg)"
        )
    if threshold is not None and num_images >= threshold:
        workers = min(cpus, MAX_WORKERS)
        chosen = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        why = f">= {threshold} images on {cpus} cores"
        return RunningMode(
            BEAM, args + chosen, f"DirectRunner multi_processing, {workers} workers ({why})"
        )
    return RunningMode(BEAM, args + ["--direct_running_mode=in_memory"], "DirectRunner in_memory")


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
