"""``nasdet export --model MODEL --format FORMAT``: another serving format, checked and timed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def build_parser() -> StepArgumentParser:
    """Return the argument parser of ``nasdet export``."""
    from components.export.formats import FORMATS
    from components.export.inputs import DEFAULT_LIMIT
    from components.export.timing import RUNS

    parser = StepArgumentParser(
        prog="nasdet export",
        description="Export a model to a serving format, check that it detects what the "
        "SavedModel detects (boxes, scores, COCO AP) and time both; writes the file, "
        "export.json and the model's config and labels into one folder.",
    )
    parser.add_argument(
        "--model", help="a Model artifact folder, a pushed version, or 'production'"
    )
    parser.add_argument("--format", help=f"the format: {', '.join(FORMATS)} (--list shows them)")
    parser.add_argument("--list", action="store_true", help="print the table of formats and exit")
    parser.add_argument("--serving-root", help="the serving root of --model production")
    parser.add_argument("--model-name", help="the model name of --model production")
    parser.add_argument(
        "--output", help="output folder (default: the first free runs/export, ...2)"
    )
    parser.add_argument("--int8", action="store_true", help="quantize to int8 (tflite)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="inference precision of OpenVINO (default: %(default)s)",
    )
    parser.add_argument("--examples", help="parity on this Examples artifact's split (with AP)")
    parser.add_argument("--split", default="test", help="the Examples split (default: %(default)s)")
    parser.add_argument(
        "--images", help="parity on these images: image, folder, glob or list file (no AP)"
    )
    parser.add_argument(
        "--max-images",
        type=_count,
        default=DEFAULT_LIMIT,
        help="parity images at most (default: %(default)s)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the parity check")
    parser.add_argument(
        "--runs",
        type=_count,
        default=RUNS,
        help="timed calls of the latency measurement; 0: none (default: %(default)s)",
    )
    return parser


def _table() -> str:
    from components.export.formats import export_formats

    rows = export_formats()
    head = ("format", "file", "needs", "nms_in_graph", "int8", "installed")
    cells = [head] + [tuple(str(r[k]) for k in head) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in cells
    )


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        sys.stdout.write(_table())
        return 0
    if not args.model or not args.format:
        parser.error("--model and --format are required (or --list)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    from components.export.step import run

    record = run(
        args.model,
        args.format,
        output_dir=args.output,
        int8=args.int8,
        precision=args.precision,
        examples=args.examples,
        images=args.images,
        split=args.split,
        max_images=args.max_images,
        check=not args.no_check,
        runs=args.runs,
        serving_root=args.serving_root,
        model_name=args.model_name,
    )
    sys.stdout.write(json.dumps(record, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasdet export``; return 0, or 2 with ``error: ...`` on bad input or failed parity."""
    return run_main(_main, argv)
