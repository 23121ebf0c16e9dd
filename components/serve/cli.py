"""``nasdet serve``: KServe's model server on a model (``nasdet serving-manifest``, the
InferenceService of the pushed versions, is ``pipelines.serving_manifest``: it reads the profile)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main
from components.errors import UserError


def build_parser() -> StepArgumentParser:
    """The argument parser of ``nasdet serve``."""
    parser = StepArgumentParser(
        prog="nasdet serve",
        description="Serve a model with KServe's Python model server: v1 "
        "(POST /v1/models/NAME:predict) and Open Inference v2 (POST /v2/models/NAME/infer), "
        "images as base64 or uint8 tensors. With production, newer pushed versions are "
        "loaded, warmed up and switched to while serving.",
    )
    parser.add_argument(
        "model", metavar="MODEL_OR_VERSION", help="a Model artifact, a pushed version or production"
    )
    parser.add_argument("--serving-root", help="with production: the serving root")
    parser.add_argument("--model-name", help="with production: the model name under it")
    parser.add_argument("--name", help="the name in the URLs (default: --model-name or nasdet)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument("--grpc-port", type=int, help="also serve gRPC (v2) on this port")
    parser.add_argument(
        "--workers", type=int, default=1, help="HTTP worker processes: 1 (the only one supported)"
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        help="with production: how often to look for a newer version (default 2)",
    )
    return parser


def _serve(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from components.predict.model_ref import PRODUCTION, resolve_model

    if args.workers != 1:
        # KServe starts extra workers as new processes and restarts one that does not answer
        # its 5 s ping; loading TensorFlow and the model in the worker takes longer here, so
        # the workers were restarted in a loop.
        raise UserError(f"--workers must be 1 (more are not supported yet), got {args.workers}")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, got {args.port}")
    if args.poll_seconds <= 0:
        raise UserError(f"--poll-seconds must be positive, got {args.poll_seconds}")
    location = resolve_model(args.model, args.serving_root, args.model_name)
    follow = args.model == PRODUCTION
    name = args.name or args.model_name or "nasdet"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.argv = [sys.argv[0]]  # kserve parses sys.argv when imported: keep ours from it
    import kserve

    from components.serve.model import DetectorModel

    model = DetectorModel(
        name,
        None if follow else location,
        args.serving_root,
        args.model_name,
        args.poll_seconds,
    )
    try:
        model.load()
    except Exception as err:  # noqa: BLE001 - a model that does not load is a bad argument
        raise UserError(f"cannot load {location.root}: {str(err).splitlines()[0]}") from None
    print(f"serving {location.root} as {name!r} on port {args.port}", flush=True)
    server = kserve.ModelServer(
        http_port=args.port,
        grpc_port=args.grpc_port or 0,
        enable_grpc=args.grpc_port is not None,
        workers=args.workers,
    )
    server.start([model])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``nasdet serve``: runs until stopped; 2 with ``error: ...`` on bad input."""
    return run_main(_serve, argv)


main_serve = main
