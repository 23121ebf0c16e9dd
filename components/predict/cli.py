"""``nasdet predict SOURCE --model MODEL``: detections on images as pictures, JSON and labels."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> StepArgumentParser:
    """Return the argument parser of ``nasdet predict``."""
    from components.predict.step import DEFAULT_CONF, DEFAULT_MAX_DET, DEFAULT_OUTPUT

    parser = StepArgumentParser(
        prog="nasdet predict",
        description="Run a detector on images: annotated pictures (images/), one JSON per image "
        "(labels/), every detection in the COCO results format (predictions.json).",
    )
    parser.add_argument(
        "source", help="an image, a folder, a glob pattern ('*.jpg') or a list file"
    )
    parser.add_argument(
        "--model",
        required=True,
        help="a Model artifact folder, a pushed version folder, or 'production' (the newest "
        "pushed version; needs --serving-root and --model-name)",
    )
    parser.add_argument("--serving-root", help="the serving root of --model production")
    parser.add_argument("--model-name", help="the model name of --model production")
    parser.add_argument(
        "--output", help=f"output folder (default: the first free {DEFAULT_OUTPUT}, ...2, ...)"
    )
    parser.add_argument(
        "--conf",
        type=_fraction,
        help="minimum score (default: the best-F1 threshold a pushed version recorded, "
        f"else {DEFAULT_CONF})",
    )
    parser.add_argument(
        "--max-det",
        type=_positive,
        default=DEFAULT_MAX_DET,
        help="most detections per image (default: %(default)s)",
    )
    parser.add_argument(
        "--classes", help="keep only these classes: names or ids, comma-separated ('cat,dog')"
    )
    parser.add_argument(
        "--save-txt", action="store_true", help="also write YOLO-format labels/<image>.txt"
    )
    parser.add_argument(
        "--no-images", action="store_true", help="do not write the annotated pictures"
    )
    return parser


class _Bar:
    """One updating line on a terminal; nothing per image otherwise (the summary follows)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.live = stream.isatty()

    def __call__(self, done: int, total: int, path: str, found: int) -> None:
        if not self.live:
            return
        width = 24
        filled = round(width * done / total)
        name = os.path.basename(path)[:40]
        self.stream.write(
            f"\rpredict [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"{name}: {found} found\x1b[K"
        )
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    from components.predict.step import run

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    summary = run(
        args.source,
        args.model,
        output_dir=args.output,
        conf=args.conf,
        max_det=args.max_det,
        classes=classes,
        save_txt=args.save_txt,
        save_images=not args.no_images,
        serving_root=args.serving_root,
        model_name=args.model_name,
        progress=_Bar(sys.stderr),
    )
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasdet predict``; return 0, or 2 with ``error: ...`` on bad input."""
    return run_main(_main, argv)
