"""``nasdet train`` / ``python -m components.train``: train a detector, write the Model artifact."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main
from components.train.cpu_threads import DEFAULT_CPU_THREADS


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        import argparse

        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        import argparse

        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        import argparse

        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def build_parser() -> StepArgumentParser:
    """Return the argument parser of ``nasdet train``."""
    parser = StepArgumentParser(
        prog="nasdet train",
        description="Train a detector on an Examples artifact and write the Model artifact "
        "(saved_model/, detector_config.json, labels.json, history.csv, logs/).",
    )
    parser.add_argument(
        "--examples", required=True, help="Examples directory (nasdet ingest output)"
    )
    parser.add_argument(
        "--architecture", required=True, help="architecture.json file or preset (tiny, d0 .. d7)"
    )
    parser.add_argument("--output", required=True, help="Model artifact directory to write")
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        help="epochs (default: the config's; with --budget-s only a cap, none by default)",
    )
    parser.add_argument(
        "--budget-s",
        type=_positive_seconds,
        metavar="SECONDS",
        help="train for this many CPU seconds (GPU: wall seconds); the epochs and the "
        "learning-rate schedule are fitted to it after every epoch",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, help="images per step (default: the config's)"
    )
    parser.add_argument(
        "--warm-start",
        metavar="DIR",
        help="start from the weights of this Model artifact or pushed version (a path or a URI)",
    )
    parser.add_argument(
        "--backbone-weights",
        metavar="WEIGHTS",
        help="none, imagenet, or the path / URI of a Keras weights file of the EfficientNet "
        "backbone without its top (default: the architecture's)",
    )
    parser.add_argument(
        "--image-size",
        type=_positive_int,
        help="input resolution, a multiple of 2**max_level (default: the architecture's)",
    )
    parser.add_argument(
        "--cpu-threads",
        type=_threads,
        default=DEFAULT_CPU_THREADS,
        metavar="N",
        help=f"TensorFlow threads when training on the CPU (default {DEFAULT_CPU_THREADS}: a "
        "small detector trains more steps per CPU second on one; 0: one per core)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="working directory for checkpoints, a path or a URI (default: <output>.work); a "
        "crashed run started again with the same arguments resumes from its last epoch",
    )
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from components.train.trainer import run

    summary = run(
        args.examples,
        args.architecture,
        args.output,
        epochs=args.epochs,
        budget_s=args.budget_s,
        batch_size=args.batch_size,
        warm_start=args.warm_start,
        backbone_weights=args.backbone_weights,
        image_size=args.image_size,
        work_dir=args.checkpoint_dir,
        cpu_threads=args.cpu_threads,
    )
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasdet train`` with ``argv``; return the exit status (2 with ``error: ...``)."""
    return run_main(_main, argv)
