"""``nasdet ingest`` / ``python -m components.ingest``: the ingest step's command line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from components.artifacts.examples import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION
from components.cli_args import StepArgumentParser, run_main
from components.data.readers import FORMATS


def build_parser() -> StepArgumentParser:
    """Return the argument parser of ``nasdet ingest`` (the command line of docs/design.md)."""
    parser = StepArgumentParser(
        prog="nasdet ingest",
        description="Validate labelled images and write the Examples artifact (gzip TFRecord shards "
        "per split, labels.json, stats.json, quarantine.jsonl, report.md) with Apache Beam.",
    )
    parser.add_argument(
        "--input", required=True, help="COCO instances JSON, or the VOC / YOLO label folder"
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="annotation format")
    parser.add_argument("--images", default=None, help="image folder (default: beside the labels)")
    parser.add_argument(
        "--classes", default=None, help="YOLO class names: a text file or a data YAML"
    )
    parser.add_argument(
        "--output", required=True, help="output directory (local path or gs:// / s3:// URI)"
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=DEFAULT_VAL_FRACTION,
        help="share of images hashed into val, where the search and training choose "
        f"(default {DEFAULT_VAL_FRACTION}; a source's own val split wins)",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=DEFAULT_TEST_FRACTION,
        help="share of images hashed into test, what evaluate scores "
        f"(default {DEFAULT_TEST_FRACTION}; a source's own test split wins)",
    )
    parser.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="a Beam pipeline option, repeatable (e.g. --beam-arg=--runner=FlinkRunner); any of "
        "them selects Beam. Default: in process (threads), or the DirectRunner engine in "
        "multi_processing for inputs large enough to pay for its start-up on 3 or more cores. "
        "A remote runner (Flink, Spark, Dataflow, Dask, PortableRunner) also needs "
        "--beam-arg=--temp_location=DIR, a shared volume or object-store URI its workers can "
        "write; the output is staged there and copied into --output",
    )
    return parser


def _attach_beam_args(argv: Sequence[str]) -> list[str]:
    """Turn ``--beam-arg --runner=X`` into ``--beam-arg=--runner=X`` (argparse would reject it)."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] == "--beam-arg" and i + 1 < len(args):
            out.append(f"--beam-arg={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_attach_beam_args(argv))
    _quiet_logging()
    from components.ingest.step import run

    summary = run(
        args.input,
        args.format,
        args.output,
        images_dir=args.images,
        classes_file=args.classes,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        beam_args=args.beam_arg,
    )
    print(summary_line(summary))
    return 0


class _StderrHandler(logging.Handler):
    """Write the message alone to the current ``sys.stderr`` (which tests may swap)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one log line."""
        sys.stderr.write(record.getMessage() + "\n")


def _quiet_logging() -> None:
    """Show this step's progress lines on stderr; keep Beam's import-time and INFO chatter out."""
    log = logging.getLogger("nasdet.ingest")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        log.addHandler(_StderrHandler())
    log.setLevel(logging.INFO)
    log.propagate = False
    if not logging.getLogger().handlers:
        logging.getLogger().setLevel(logging.ERROR)


def summary_line(summary: dict) -> str:
    """Return the one-line summary printed at the end of ``nasdet ingest``."""
    images, boxes = summary["images"], summary["boxes"]
    splits = ", ".join(f"{name} {n}" for name, n in summary["splits"].items())
    return (
        f"ingest: {images['accepted']} images accepted, {images['quarantined']} quarantined; "
        f"{boxes['accepted']} boxes accepted, {boxes['quarantined']} quarantined; "
        f"{summary['classes']} classes; splits: {splits}; wrote {summary['output_dir']} "
        f"in {summary['seconds']:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasdet ingest`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    return run_main(_main, argv)
