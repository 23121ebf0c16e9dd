"""``python -m components.changes``: would a retraining on these Examples change anything?"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main
from components.errors import UserError


def build_parser() -> StepArgumentParser:
    """The argument parser of the check-changes command."""
    parser = StepArgumentParser(
        prog="python -m components.changes",
        description="Compare Examples, code and parameters with what the production version "
        "under SERVING_ROOT/MODEL_NAME was trained from; print whether to retrain and why. "
        "Exit status 0 either way.",
    )
    parser.add_argument("--examples", required=True, help="the Examples artifact dir")
    parser.add_argument("--serving-root", required=True, help="local dir, gs:// or s3:// URI")
    parser.add_argument("--model-name", required=True, help="model name under the serving root")
    parser.add_argument("--output", required=True, help="where changes.json and the report go")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter that shapes the model (VALUE read as JSON when it parses: 3, 0.5, "
        "true; else a string); repeatable",
    )
    parser.add_argument(
        "--code", action="append", help="a code folder to digest (default: nasdet's packages)"
    )
    parser.add_argument("--force", action="store_true", help="retrain even when nothing changed")
    return parser


def parse_params(items: Sequence[str]) -> dict:
    """``NAME=VALUE`` strings as a dict; UserError on a malformed item."""
    values: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param: expected NAME=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if not isinstance(value, (str, int, float, bool)):
            value = text
        values[name.strip()] = value
    return values


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from components.changes.step import default_code_roots, run

    decision = run(
        examples_dir=args.examples,
        serving_root=args.serving_root,
        model_name=args.model_name,
        parameters=parse_params(args.param),
        code_roots=args.code or default_code_roots(),
        output_dir=args.output,
        force=args.force,
    )
    print(f"retrain: {'yes' if decision['proceed'] else 'no'}: {decision['reason']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with ``error: ...`` on a user mistake."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
