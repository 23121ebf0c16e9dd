"""``nasdet push`` / ``python -m components.push``: versioned push of a blessed model."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main
from components.errors import UserError


def _format_list(text: str) -> tuple[str, ...]:
    """``--export``'s comma-separated format names; an unknown one is a usage error."""
    from components.export.formats import parse_names

    try:
        return parse_names(text)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> StepArgumentParser:
    """The argument parser of the push command."""
    parser = StepArgumentParser(
        prog="nasdet push",
        description="Copy a blessed model into the next integer version under "
        "SERVING_ROOT/MODEL_NAME (TensorFlow Serving layout).",
    )
    parser.add_argument("--model", required=True, help="Model artifact dir")
    parser.add_argument(
        "--blessing", required=True, help="blessing.json (or the Evaluation dir holding it)"
    )
    parser.add_argument("--serving-root", required=True, help="local dir, gs:// or s3:// URI")
    parser.add_argument("--model-name", required=True, help="model name under the serving root")
    parser.add_argument("--keep", type=int, help="keep only the newest K versions")
    parser.add_argument(
        "--changes",
        help="the check-changes step's output (changes.json or its folder): what the model was "
        "trained from, recorded in push.json for the next run's comparison",
    )
    parser.add_argument(
        "--export",
        type=_format_list,
        default=(),
        metavar="FORMATS",
        help="also write the model in these serving formats, comma separated (onnx, openvino, "
        "tflite: nasdet export --list), into VERSION/exports/FORMAT/, each checked for parity "
        "with the SavedModel; one that fails refuses the push",
    )
    return parser


def _main(argv: Sequence[str] | None) -> int:
    """Parse ``argv``, push, print the new version; return 0."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ log quiet
    from components.artifacts import changes
    from components.push.push import run

    trained_on = changes.read(args.changes)["trained_on"] if args.changes else None
    result = run(
        model_dir=args.model,
        blessing_file=args.blessing,
        serving_root=args.serving_root,
        model_name=args.model_name,
        keep=args.keep,
        trained_on=trained_on,
        export_formats=args.export,
    )
    check = result["load_check"]
    print(
        f"load check passed: the staged copy answered its {check['requests']} warm-up requests "
        f"as the source model (max difference {check['max_abs_diff']:.3g}) in a fresh process"
    )
    print(f"pushed version {result['version']} to {result['path']}")
    for name, exported in result["exports"].items():
        print(f"with {name}: {exported['file']} ({_parity_words(exported['parity'])})")
    if result["inference_service"]:
        print(f"wrote the KServe InferenceService serving it: {result['inference_service']}")
    if result["pruned"]:
        print(f"removed old versions {', '.join(map(str, result['pruned']))}")
    return 0


def _parity_words(parity: dict) -> str:
    ap = f", AP difference {parity['ap_diff']:+.4f}" if parity.get("ap_diff") is not None else ""
    return (
        f"parity passed: {parity['matched']} of {parity['compared']} detections matched on "
        f"{parity['images']} images{ap}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns 0 on success, 2 with ``error: ...`` on a user mistake.

    An interrupted push (Ctrl-C or SIGTERM) leaves the serving root as it was: exit status 130.
    """
    return run_main(_main, argv)


def build_rollback_parser() -> StepArgumentParser:
    """The argument parser of ``nasdet rollback``."""
    parser = StepArgumentParser(
        prog="nasdet rollback",
        description="Serve an earlier version again: it is re-published as the newest version "
        "(TF Serving serves the highest number), with its lineage in push.json. Without --to: "
        "the newest earlier version of another model.",
    )
    parser.add_argument("--serving-root", required=True, help="local dir, gs:// or s3:// URI")
    parser.add_argument("--model-name", required=True, help="model name under the serving root")
    parser.add_argument("--to", type=int, help="the version to serve again")
    return parser


def _rollback(argv: Sequence[str] | None) -> int:
    args = build_rollback_parser().parse_args(argv)
    from components.push.rollback import run

    result = run(args.serving_root, args.model_name, args.to)
    print(
        f"rolled back: version {result['rolled_back_from']} -> version "
        f"{result['republished_from']}, now served as version {result['version']} "
        f"({result['path']})"
    )
    return 0


def main_rollback(argv: Sequence[str] | None = None) -> int:
    """``nasdet rollback``: 0 on success, 2 with ``error: ...`` on a user mistake."""
    return run_main(_rollback, argv)


if __name__ == "__main__":
    sys.exit(main())
