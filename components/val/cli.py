"""``nasdet val --data LABELS --model MODEL``: a model's COCO metrics on raw labelled images."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main


def build_parser() -> StepArgumentParser:
    """Return the argument parser of ``nasdet val``."""
    parser = StepArgumentParser(
        prog="nasdet val",
        description="Score a model on labelled images (COCO JSON, VOC or YOLO folder) without a "
        "pipeline run: the evaluate step's COCO metrics, best-F1 threshold and 95 % intervals.",
    )
    parser.add_argument("--data", required=True, help="COCO instances JSON or VOC / YOLO labels")
    parser.add_argument("--format", choices=("coco", "voc", "yolo"), help="default: guessed")
    parser.add_argument("--images", help="image folder (default: beside the labels)")
    parser.add_argument("--classes", help="class names file (YOLO; VOC: restricts the classes)")
    parser.add_argument(
        "--model", required=True, help="a Model artifact, a pushed version, or 'production'"
    )
    parser.add_argument("--serving-root", help="the serving root of --model production")
    parser.add_argument("--model-name", help="the model name of --model production")
    parser.add_argument("--output", help="also write metrics.json and operating_point.json here")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.val.step import run

    summary = run(
        args.data,
        args.model,
        fmt=args.format,
        images_dir=args.images,
        classes_file=args.classes,
        output_dir=args.output,
        serving_root=args.serving_root,
        model_name=args.model_name,
    )
    m, u = summary["metrics"], summary["uncertainty"]
    op = m["operating_point"]
    sys.stderr.write(
        f"AP {m['AP']:.4f} (95 % interval {u['AP'][0]:.4f}-{u['AP'][1]:.4f})  AP50 "
        f"{m['AP50']:.4f}  AR100 {m['AR100']:.4f}  best F1 {op['f1']:.3f} at score "
        f"{op['threshold']:.2f}  ({summary['images']} images, {summary['boxes']} boxes)\n"
    )
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasdet val``; return 0, or 2 with ``error: ...`` on bad input."""
    return run_main(_main, argv)
