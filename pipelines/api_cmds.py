"""``nasdet upload | submit | schedule``: the KFP API commands (``kfp.Client``, API v2beta1).

- ``upload`` uploads the compiled pipeline; when a pipeline of that name exists it uploads a new
  version of it instead.
- ``submit`` starts a run with parameters in an experiment (created when missing).
- ``schedule`` creates a recurring run from a cron expression (scheduled retraining).

The pipeline comes from ``--package FILE`` (a compiled YAML), from ``--pipeline NAME`` (an
uploaded pipeline: its newest version, or ``--pipeline-version``), or, when neither is given, is
compiled on the fly from ``--profile`` / ``--image``. Connection options: ``--host``,
``--namespace``, ``--token``, defaulting to the environment variables ``KFP_HOST``,
``KFP_NAMESPACE`` and ``KFP_TOKEN``. Usage mistakes exit with status 2; API failures with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from components.cli_args import StepArgumentParser, run_main
from components.errors import UserError
from pipelines import cron, parameter_values
from pipelines import profile as profile_lib

DEFAULT_PIPELINE_NAME = "nasdet"
DEFAULT_EXPERIMENT = "nasdet"


class ApiError(Exception):
    """The KFP API refused or failed a request (exit status 1)."""


def _connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("KFP connection")
    group.add_argument(
        "--host",
        default=os.environ.get("KFP_HOST"),
        help="KFP API endpoint, e.g. http://localhost:8080 (env KFP_HOST)",
    )
    group.add_argument(
        "--namespace",
        default=os.environ.get("KFP_NAMESPACE"),
        help="Kubernetes namespace (multi-user KFP) (env KFP_NAMESPACE)",
    )
    group.add_argument(
        "--token",
        default=os.environ.get("KFP_TOKEN"),
        help="bearer token for the KFP API (env KFP_TOKEN)",
    )


def _source_args(parser: argparse.ArgumentParser, uploaded: bool) -> None:
    group = parser.add_argument_group("pipeline")
    group.add_argument("--package", help="compiled pipeline YAML (default: compile now)")
    group.add_argument("--profile", help="cluster profile used when compiling now")
    group.add_argument("--image", help="nasdet image used when compiling now")
    if uploaded:
        group.add_argument("--pipeline", help="use this uploaded pipeline instead of a package")
        group.add_argument(
            "--pipeline-version", help="version name of --pipeline (default: its newest)"
        )


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiment", default=DEFAULT_EXPERIMENT, help="experiment (created when missing)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter (repeatable; see the README's parameter table)",
    )
    parser.add_argument("--pipeline-root", help="artifact root for this run")
    parser.add_argument("--service-account", help="Kubernetes service account of the run")


def _check_host(args: argparse.Namespace) -> None:
    """Refuse a missing host or one without its scheme (kfp would assume https)."""
    if not args.host:
        raise UserError("no KFP host: pass --host URL or set KFP_HOST")
    if not args.host.startswith(("http://", "https://")):
        raise UserError(f"--host must start with http:// or https://, got {args.host!r}")


class _HealthzFailures(logging.Handler):
    """Collects the errors ``kfp.Client.get_kfp_healthz`` logs on each failed attempt."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


def _client(args: argparse.Namespace) -> Any:
    """A ``kfp.Client`` for the connection options, once KFP's health check answered.

    ``kfp.Client.get_kfp_healthz`` is the check (the client calls it itself when no namespace
    is configured); its per-attempt tracebacks are kept out of the output, and a failure is
    one line: unreachable, credentials refused, or the last error of its attempts.
    """
    _check_host(args)
    import kfp
    import urllib3

    root = logging.getLogger()
    failures = _HealthzFailures()
    saved = root.handlers[:]
    root.handlers = [failures]  # get_kfp_healthz logs each failed attempt with logging.exception
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            client = kfp.Client(
                host=args.host.rstrip("/"),
                namespace=args.namespace or "kubeflow",
                existing_token=args.token or None,
            )
        client.get_kfp_healthz(sleep_duration=1)
    except TimeoutError:  # every attempt got an error answer (before OSError: a subclass)
        last = failures.errors[-1] if failures.errors else None
        status = getattr(last, "status", None)
        if status in (401, 403):
            raise ApiError(f"KFP at {args.host} refused the credentials ({status})") from None
        what = f"{status} {getattr(last, 'reason', '')}".strip() if status else repr(last)
        raise ApiError(f"KFP at {args.host} failed its health check: {what}") from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise ApiError(f"cannot reach KFP at {args.host}: {reason}") from None
    finally:
        root.handlers = saved
    return client


@contextlib.contextmanager
def _package(args: argparse.Namespace) -> Iterator[str]:
    """Yield the pipeline package path: ``--package`` or a freshly compiled temporary file."""
    if args.package:
        if not os.path.isfile(args.package):
            raise UserError(f"pipeline package {args.package} does not exist")
        yield args.package
        return
    from pipelines.compile_cmd import compile_pipeline

    profile = profile_lib.load(args.profile)
    if args.image:
        profile = profile.with_image(args.image)
    with tempfile.TemporaryDirectory() as tmp:
        yield compile_pipeline(os.path.join(tmp, "nasdet.yaml"), profile)


def _api(call, *a, **kw):
    """Call a kfp.Client method; turn API and connection failures into ``ApiError``."""
    import kfp_server_api

    try:
        return call(*a, **kw)
    except kfp_server_api.ApiException as err:
        body = (err.body or "").strip().replace("\n", " ")
        raise ApiError(f"KFP API error {err.status} {err.reason}: {body[:300]}") from None
    except (OSError, TimeoutError) as err:
        raise ApiError(f"KFP API request failed: {err}") from None


def _filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}
    )


def _uploaded_version(client: Any, pipeline: str, version: str | None) -> tuple[str, str]:
    """The ``(pipeline_id, version_id)`` of an uploaded pipeline's named or newest version."""
    pipeline_id = _api(client.get_pipeline_id, pipeline)
    if not pipeline_id:
        raise UserError(f"no pipeline named {pipeline!r} on the KFP server (upload it first)")
    if version:
        found = _api(
            client.list_pipeline_versions, pipeline_id, page_size=2, filter=_filter(version)
        )
    else:
        found = _api(
            client.list_pipeline_versions, pipeline_id, page_size=1, sort_by="created_at desc"
        )
    versions = found.pipeline_versions or []
    if not versions:
        what = f"version {version!r}" if version else "any version"
        raise UserError(f"pipeline {pipeline!r} has no {what}")
    return pipeline_id, versions[0].pipeline_version_id


def _params(args: argparse.Namespace) -> dict[str, Any]:
    return parameter_values.parse_assignments(args.param)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")


def _upload(args: argparse.Namespace) -> int:
    client = _client(args)
    with _package(args) as package:
        pipeline_id = _api(client.get_pipeline_id, args.name)
        if pipeline_id is None:
            pipeline = _api(
                client.upload_pipeline,
                package,
                pipeline_name=args.name,
                description=args.description,
                namespace=args.namespace,
            )
            print(f"uploaded pipeline {args.name!r} (id {pipeline.pipeline_id})")
            return 0
        version_name = args.version or f"{args.name}-{_now()}"
        version = _api(
            client.upload_pipeline_version,
            package,
            pipeline_version_name=version_name,
            pipeline_id=pipeline_id,
            description=args.description,
        )
    print(
        f"uploaded version {version_name!r} of pipeline {args.name!r} "
        f"(pipeline id {pipeline_id}, version id {version.pipeline_version_id})"
    )
    return 0


def _experiment_id(client: Any, args: argparse.Namespace) -> str:
    experiment = _api(client.create_experiment, name=args.experiment, namespace=args.namespace)
    return experiment.experiment_id


def _source_kwargs(client: Any, args: argparse.Namespace, package: str | None) -> dict[str, Any]:
    if package:
        return {"pipeline_package_path": package}
    pipeline_id, version_id = _uploaded_version(client, args.pipeline, args.pipeline_version)
    return {"pipeline_id": pipeline_id, "version_id": version_id}


@contextlib.contextmanager
def _maybe_package(args: argparse.Namespace) -> Iterator[str | None]:
    if args.pipeline:
        if args.package:
            raise UserError("--package and --pipeline exclude each other")
        yield None
        return
    with _package(args) as package:
        yield package


def _submit(args: argparse.Namespace) -> int:
    params = _params(args)
    client = _client(args)
    with _maybe_package(args) as package:
        source = _source_kwargs(client, args, package)
        experiment_id = _experiment_id(client, args)
        run = _api(
            client.run_pipeline,
            experiment_id=experiment_id,
            job_name=args.run_name or f"nasdet {_now()}",
            params=params,
            pipeline_root=args.pipeline_root,
            service_account=args.service_account,
            **source,
        )
    print(f"submitted run {run.run_id} in experiment {args.experiment!r}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    expression, note = cron.to_kfp(args.cron)
    params = _params(args)
    if args.max_concurrency < 1:
        raise UserError("--max-concurrency must be at least 1")
    client = _client(args)
    print(note + (f" -> KFP {expression!r}" if expression != " ".join(args.cron.split()) else ""))
    with _maybe_package(args) as package:
        source = _source_kwargs(client, args, package)
        experiment_id = _experiment_id(client, args)
        recurring = _api(
            client.create_recurring_run,
            experiment_id=experiment_id,
            job_name=args.name,
            description=args.description,
            cron_expression=expression,
            max_concurrency=args.max_concurrency,
            no_catchup=not args.catchup,
            params=params,
            pipeline_root=args.pipeline_root,
            service_account=args.service_account,
            **source,
        )
    print(
        f"scheduled recurring run {args.name!r} (id {recurring.recurring_run_id}) "
        f"with cron {expression!r} in experiment {args.experiment!r}"
    )
    return 0


_DESCRIPTIONS = {
    "upload": "Upload the pipeline to KFP, or a new version when the name exists.",
    "submit": "Start a pipeline run on KFP, with parameters, in an experiment.",
    "schedule": "Create a recurring pipeline run on KFP from a cron expression.",
}


def _parser(command: str) -> StepArgumentParser:
    parser = StepArgumentParser(prog=f"nasdet {command}", description=_DESCRIPTIONS[command])
    _connection_args(parser)
    if command == "upload":
        _source_args(parser, uploaded=False)
        parser.add_argument("--name", default=DEFAULT_PIPELINE_NAME, help="pipeline name")
        parser.add_argument("--version", help="version name (default: NAME-<UTC time>)")
        parser.add_argument("--description", help="pipeline / version description")
    elif command == "submit":
        _source_args(parser, uploaded=True)
        _run_args(parser)
        parser.add_argument("--run-name", help="run name (default: nasdet <UTC time>)")
    else:
        _source_args(parser, uploaded=True)
        _run_args(parser)
        parser.add_argument(
            "--cron",
            required=True,
            help="when to run: 5 fields (minute hour dom month dow) or KFP's 6 (seconds first)",
        )
        parser.add_argument("--name", default="nasdet-retrain", help="recurring run name")
        parser.add_argument("--description", help="recurring run description")
        parser.add_argument(
            "--max-concurrency", type=int, default=1, help="runs allowed at the same time"
        )
        parser.add_argument(
            "--catchup", action="store_true", help="backfill runs missed while paused"
        )
    return parser


_COMMANDS = {"upload": _upload, "submit": _submit, "schedule": _schedule}


def _main_for(command: str, argv: Sequence[str] | None) -> int:
    def body(argv: Sequence[str] | None) -> int:
        args = _parser(command).parse_args(argv)
        try:
            return _COMMANDS[command](args)
        except ApiError as err:
            sys.stderr.write(f"error: {err}\n")
            return 1

    return run_main(body, argv)


def main_upload(argv: Sequence[str] | None = None) -> int:
    """``nasdet upload``: upload the pipeline (or a new version); return the exit status."""
    return _main_for("upload", argv)


def main_submit(argv: Sequence[str] | None = None) -> int:
    """``nasdet submit``: start a run with parameters in an experiment; return the exit status."""
    return _main_for("submit", argv)


def main_schedule(argv: Sequence[str] | None = None) -> int:
    """``nasdet schedule``: create a recurring run from a cron expression; return the status."""
    return _main_for("schedule", argv)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipelines.api_cmds upload|submit|schedule ...``; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in _COMMANDS:
        sys.stderr.write("error: expected one of: upload, submit, schedule\n")
        return 2
    return _main_for(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
