"""``nasdet run``: the whole pipeline on this machine with kfp.local (no cluster, no Docker).

``nasdet run [--data PATH] [--format coco|voc|yolo] [--images DIR] [--classes FILE]
[--work-dir DIR] [--preset quick|full] [--set NAME=VALUE ...] [--verbose]``

The same pipeline that ``nasdet compile`` writes runs with
``kfp.local.init(runner=SubprocessRunner(use_venv=False))``: every step is a subprocess of this
Python environment. Input defaults to the bundled raccoon sample. Under ``--work-dir``
(default ``./work``): ``pipeline_root/`` (the artifacts of every run), ``serving/`` (pushed
models) and ``logs/`` (the full log of each run). It prints one line per task and a summary:
whether anything changed since the production version (when nothing did, the run stops after
check-changes and the summary says so and why), AP, blessed or not and why, the pushed version
and its path. Exit status: 0 when the pipeline succeeded (stopped early, blessed or not), 1
when a step failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

from components.artifacts.architecture import ARCHITECTURE_FILE
from components.artifacts.changes import CHANGES_FILE
from components.artifacts.evaluation import BLESSING_FILE, METRICS_FILE, REPORT_HTML_FILE
from components.cli_args import StepArgumentParser, run_main
from components.data.readers import FORMATS, guess_format
from components.errors import UserError
from pipelines import parameter_values, step_io
from pipelines.factory import TASK_NAMES
from pipelines.progress import ProgressStream

# Host paths among the parameters, and the step whose pod reads each (for --isolated).
PATH_PARAMETERS = {
    "data_path": "ingest",
    "images_dir": "ingest",
    "classes_file": "ingest",
    "warm_start": "train",
    "baseline_model": "evaluate",
}

# Overrides of the pipeline defaults per preset. quick: a search in the small space at the
# final size (128 px): 24 architectures screened by a training-free score, then three trials
# of 20 CPU seconds each with the tiny recipe (tiny itself first, as the reference, and the
# two best screened within tiny's measured latency), then the pick trained for 240 CPU
# seconds (for trials and pick alike, the epochs and the schedule fitted to the budget).
# full: the pipeline defaults (the cluster settings: a 20-trial search of 384-640 px networks,
# meant for GPUs: far too slow for a CPU).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "search_algorithm": "random",
        "search_max_trials": 3,
        "search_epochs": 50,  # a cap: the trial budget decides
        "search_trial_budget_s": 20.0,
        "search_screen": 24,
        "search_space": "small",
        "train_budget_s": 240.0,
        "image_size": 128,
    },
    "full": {},
}


def _parser() -> StepArgumentParser:
    parser = StepArgumentParser(
        prog="nasdet run",
        description="Run the whole pipeline locally (kfp.local) and print a summary.",
    )
    parser.add_argument(
        "--data", help="annotations: COCO JSON, or a VOC / YOLO folder (default: bundled sample)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, help="annotation format (default: guessed from --data)"
    )
    parser.add_argument("--images", help="folder of the images (default: next to --data)")
    parser.add_argument("--classes", help="YOLO class names file")
    parser.add_argument("--work-dir", default="work", help="where runs write (default: ./work)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="run size")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter (see the README's parameter table); repeatable",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="stream every step's output, not just progress"
    )
    parser.add_argument(
        "--isolated",
        action="store_true",
        help="run each task the way a pod sees it: the compiled pipeline's volumes, "
        "environment and secrets, a private /tmp and HOME, inputs as copies, no network",
    )
    parser.add_argument(
        "--profile", help="cluster profile YAML for --isolated (default: the default profile)"
    )
    parser.add_argument(
        "--volume",
        action="append",
        default=[],
        metavar="CLAIM=DIR",
        help="--isolated: the local folder of a volume (claim or profile volume name; default: "
        "<work-dir>/volumes/<claim>); repeatable",
    )
    parser.add_argument(
        "--secrets",
        metavar="FILE",
        help="--isolated: YAML of the secrets the profile uses ({secret: {key: value}} or "
        "Kubernetes Secret manifests)",
    )
    return parser


def resolve_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline arguments for the command line ``args``: preset, data, --set, local paths.

    Paths are made absolute (the steps run in subprocesses). Raises UserError on bad input.
    """
    values = dict(PRESETS[args.preset])
    if args.data:
        if not os.path.exists(args.data):
            raise UserError(f"data path {args.data} does not exist")
        values["data_path"] = os.path.abspath(args.data)
        values["data_format"] = args.format or guess_format(args.data)
    else:
        if args.format not in (None, "voc"):
            raise UserError("--format needs --data (the bundled sample is VOC)")
        if not getattr(args, "isolated", False):
            values["data_path"], values["images_dir"] = step_io.bundled_sample()
        # isolated: empty, so the ingest step takes the sample bundled with its code (the image's)
        values["data_format"] = "voc"
    for flag, name in (("images", "images_dir"), ("classes", "classes_file")):
        path = getattr(args, flag)
        if path:
            if not os.path.exists(path):
                raise UserError(f"--{flag} path {path} does not exist")
            values[name] = os.path.abspath(path)
    work = os.path.abspath(args.work_dir)
    if not getattr(args, "isolated", False):
        # Without pods, the serving and work volumes are folders of the work directory.
        values["serving_root"] = os.path.join(work, "serving")
        values["checkpoint_root"] = os.path.join(work, "checkpoints")
    values.update(parameter_values.parse_assignments(args.set))
    for name in PATH_PARAMETERS:
        if values.get(name) and values[name] != step_io.PRODUCTION:
            values[name] = os.path.abspath(values[name])
    for name in ("serving_root", "checkpoint_root"):
        if values.get(name) and "://" not in values[name]:
            values[name] = os.path.abspath(values[name])
    if values.get("data_format") not in FORMATS:
        raise UserError(
            f"unknown format {values.get('data_format')!r} (choose from: {', '.join(FORMATS)})"
        )
    parameter_values.check_values(values)
    return values


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def collect_results(run_dir: str) -> dict[str, Any]:
    """Read a finished local run's artifacts: AP, blessing, push; ``{}`` parts when missing."""
    task = {step: os.path.join(run_dir, name) for step, name in TASK_NAMES.items()}
    # kfp.local's layout: <run>/<task>/<output name>, output names as in pipelines.kfp_steps
    evaluation = os.path.join(task["evaluate"], "evaluation")
    return {
        "run_dir": run_dir,
        "architecture": os.path.join(task["search"], "architecture", ARCHITECTURE_FILE),
        "model": os.path.join(task["train"], "model"),
        "metrics": _read_json(os.path.join(evaluation, METRICS_FILE)) or {},
        "blessing": _read_json(os.path.join(evaluation, BLESSING_FILE)) or {},
        "report": os.path.join(evaluation, REPORT_HTML_FILE),
        "pushed": _read_json(os.path.join(task["push"], "pushed_model")),
        "changes": _read_json(os.path.join(task["changes"], "changes", CHANGES_FILE)) or {},
    }


def stopped_early(results: dict[str, Any]) -> bool:
    """True when check-changes stopped the run (nothing changed since production)."""
    return results.get("changes", {}).get("proceed") is False


def _reasons(blessing: dict[str, Any]) -> str:
    reasons = blessing.get("reasons") or []
    if isinstance(reasons, str):
        reasons = [reasons]
    # The failed rules first: their reasons start with the rule's name ("min_ap: ...").
    failed = set(blessing.get("failed") or [])
    reasons = sorted(reasons, key=lambda r: str(r).split(":", 1)[0] not in failed)
    return "; ".join(str(r).rstrip(". ") for r in reasons) or "no reason given"


def _show(path: str) -> str:
    """``path`` relative to the current directory when it lies below it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def format_summary(results: dict[str, Any], seconds: float, log_path: str) -> str:
    """The final summary printed by ``nasdet run`` (one item per line)."""
    metrics, blessing, pushed = results["metrics"], results["blessing"], results["pushed"]
    rel = _show
    took = f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"
    changes = results.get("changes") or {}
    if stopped_early(results):
        production = changes.get("production") or {}
        where = rel(str(production.get("path")))
        if production.get("pod_path") and production["pod_path"] != production.get("path"):
            where += f" ({production['pod_path']} in the pods)"
        lines = [
            f"nasdet run stopped early after {TASK_NAMES['changes']} in {took}: nothing to "
            "retrain (search, train, evaluate and push did not run)",
            f"  changes       {changes.get('reason', 'no reason given')}",
            f"  production    version {production.get('version')} -> {where}",
            f"  full log      {rel(log_path)}",
        ]
        steps_dir = os.path.splitext(log_path)[0]
        if os.path.isdir(steps_dir):
            lines.append(f"  step logs     {rel(steps_dir)}/<step>.log")
        return "\n".join(lines) + "\n"
    lines = [f"nasdet run finished in {took}"]
    if changes:
        lines.append(f"  changes       {changes.get('reason', 'no reason given')}")

    def num(key: str) -> str:
        value = metrics.get(key)
        return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"

    lines.append(f"  AP            {num('AP')} (AP50 {num('AP50')}, AR100 {num('AR100')})")
    if blessing:
        verdict = "yes" if blessing.get("blessed") else "no"
        lines.append(f"  blessed       {verdict}: {_reasons(blessing)}")
    if pushed:
        where = rel(str(pushed.get("path")))
        if pushed.get("pod_path") and pushed["pod_path"] != pushed.get("path"):
            where += f" ({pushed['pod_path']} in the pods)"
        lines.append(f"  pushed        version {pushed.get('version')} -> {where}")
    else:
        lines.append("  pushed        no (the push step was skipped: the model is not blessed)")
    lines.append(f"  architecture  {rel(results['architecture'])}")
    lines.append(f"  model         {rel(results['model'])}")
    if os.path.isfile(results["report"]):
        lines.append(f"  report        {rel(results['report'])}")
    lines.append(f"  full log      {rel(log_path)}")
    steps_dir = os.path.splitext(log_path)[0]
    if os.path.isdir(steps_dir):
        lines.append(f"  step logs     {rel(steps_dir)}/<step>.log")
    return "\n".join(lines) + "\n"


def run_pipeline(
    arguments: dict[str, Any],
    work_dir: str,
    verbose: bool = False,
    isolated: argparse.Namespace | None = None,
) -> tuple[bool, dict[str, Any], ProgressStream, str]:
    """Run the pipeline with kfp.local; return ``(succeeded, results, progress, log_path)``.

    ``isolated`` (the ``--profile``, ``--volume`` and ``--secrets`` options) runs the pipeline
    compiled for that profile, each task as a pod sees it (``pipelines.isolated``).
    """
    from kfp import local

    from pipelines import profile
    from pipelines.factory import make_pipeline

    work_dir = os.path.abspath(work_dir)
    sandbox = None
    if isolated is not None:
        from pipelines import isolated as isolated_lib

        pipeline, sandbox, arguments = isolated_lib.prepare(
            arguments,
            work_dir,
            isolated.profile,
            isolated.volume,
            isolated.secrets,
            PATH_PARAMETERS,
        )
        runner_context: Any = isolated_lib.isolation(sandbox)
    else:
        # Not isolated, a failed step is not retried: a local failure is rarely transient (the
        # cluster's retry policies are for lost pods); --isolated keeps them.
        pipeline = make_pipeline(profile.load().without_retries())
        runner_context = contextlib.nullcontext()
    pipeline_root = os.path.join(work_dir, "pipeline_root")
    logs = os.path.join(work_dir, "logs")
    os.makedirs(pipeline_root, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    log_path = os.path.join(logs, f"run-{stamp}.log")
    before = set(os.listdir(pipeline_root))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # stream the steps' output as it comes
    with open(log_path, "w", encoding="utf-8") as log, runner_context:
        steps_dir = os.path.join(logs, f"run-{stamp}")
        stream = (_Tee if verbose else ProgressStream)(log, sys.stdout, steps_dir)
        with contextlib.redirect_stdout(stream), warnings.catch_warnings():
            # The SubprocessRunner warns that the image is not a Python image: it ignores it.
            warnings.simplefilter("ignore", RuntimeWarning)
            # ... and that resources and placement have no effect locally: expected.
            warnings.filterwarnings("ignore", message=".*no effect in the current local runner")
            local.init(
                runner=local.SubprocessRunner(use_venv=False),
                pipeline_root=pipeline_root,
                raise_on_error=False,
            )
            pipeline(**arguments)
        check, evaluate, push = TASK_NAMES["changes"], TASK_NAMES["evaluate"], TASK_NAMES["push"]
        later = [TASK_NAMES[s] for s in ("search", "train", "evaluate", "push")]
        if stream.status.get(check) == "SUCCESS" and not any(t in stream.status for t in later):
            stream.say(f"{', '.join(later)}: skipped ({check}: nothing changed since production)")
        elif stream.status.get(evaluate) == "SUCCESS" and push not in stream.status:
            stream.say(f"{push}: skipped ({evaluate} did not bless the model)")
        stream.step_logs.close()
    new = sorted(set(os.listdir(pipeline_root)) - before)
    run_dir = os.path.join(pipeline_root, new[-1]) if new else pipeline_root
    results = collect_results(run_dir)
    production = (results["changes"] or {}).get("production")
    if sandbox is not None:
        from pipelines.isolated import host_path

        for found in (results["pushed"], production):
            if found and found.get("path"):
                found["pod_path"] = found["path"]
                found["path"] = host_path(str(found["path"]), sandbox.compiled, sandbox.volume_dirs)
    ok = not stream.failed_tasks() and (bool(results["blessing"]) or stopped_early(results))
    return ok, results, stream, log_path


class _Tee(ProgressStream):
    """``--verbose``: everything to the log and to the terminal."""

    def write(self, text: str) -> int:
        """Write ``text`` to both the log and the terminal."""
        self.out.write(text)
        return super().write(text)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    arguments = resolve_arguments(args)
    started = time.monotonic()
    if not args.isolated and (args.profile or args.volume or args.secrets):
        raise UserError("--profile, --volume and --secrets need --isolated")
    data = _show(arguments["data_path"]) if arguments.get("data_path") else "bundled sample"
    mode = f", isolated ({_show(args.profile) if args.profile else 'default profile'})"
    print(
        f"nasdet run: preset {args.preset}, data {data} ({arguments['data_format']}), "
        f"work dir {_show(os.path.abspath(args.work_dir))}{mode if args.isolated else ''}"
    )
    ok, results, progress, log_path = run_pipeline(
        arguments, args.work_dir, args.verbose, args if args.isolated else None
    )
    if not ok:
        failed = progress.failed_tasks() or ["the pipeline"]
        sys.stderr.write(f"error: {failed[0]} failed; its last output lines:\n")
        for line in list(progress.tails.get(failed[0], []))[-20:]:
            sys.stderr.write(f"  | {line}\n")
        sys.stderr.write(f"error: {failed[0]} failed (full log: {_show(log_path)})\n")
        return 1
    sys.stdout.write(format_summary(results, time.monotonic() - started, log_path))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``nasdet run``: run the pipeline locally; return the exit status (0, 1 or 2)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
