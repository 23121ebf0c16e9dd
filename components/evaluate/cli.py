"""``nasdet evaluate`` / ``python -m components.evaluate``: COCO metrics and the blessing."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from components import blessing_rules
from components.cli_args import StepArgumentParser, run_main
from components.errors import UserError
from components.evaluate import blessing
from components.metrics import evaluators

RULES = blessing.DEFAULT_RULES


def build_parser() -> StepArgumentParser:
    """The argument parser of the evaluate command."""
    parser = StepArgumentParser(
        prog="nasdet evaluate",
        description="Evaluate an exported detector with the COCO metrics on the test split and "
        "decide whether it is blessed (good enough to push).",
    )
    parser.add_argument("--model", required=True, help="Model artifact (or pushed version) dir")
    parser.add_argument("--examples", required=True, help="Examples artifact dir")
    parser.add_argument("--output", required=True, help="Evaluation output dir")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--baseline", help="baseline model: a Model artifact or a pushed version")
    where.add_argument("--serving-root", help="compare with the newest version pushed here")
    parser.add_argument("--model-name", help="model name under --serving-root")
    for rule in blessing_rules.rule_fields():  # one option per blessing rule: --min-ap, ...
        parser.add_argument(
            "--" + rule.name.replace("_", "-"),
            type=blessing_rules.rule_type(rule),
            default=getattr(RULES, rule.name),
            help=rule.metadata["help"],
        )
    parser.add_argument(
        "--evaluator",
        choices=evaluators.EVALUATORS,
        default=evaluators.DEFAULT_EVALUATOR,
        help="COCO evaluator (pycocotools is the reference; same numbers)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per model call")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    """Parse ``argv``, run the step, print the verdict; return 0."""
    args = build_parser().parse_args(argv)
    if args.serving_root and not args.model_name:
        raise UserError("--serving-root needs --model-name")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ log quiet
    from components.evaluate.step import run

    result = run(
        model_dir=args.model,
        examples_dir=args.examples,
        output_dir=args.output,
        baseline_dir=args.baseline,
        serving_root=args.serving_root,
        model_name=args.model_name,
        rules=blessing.BlessingRules(
            **{rule.name: getattr(args, rule.name) for rule in blessing_rules.rule_fields()}
        ),
        evaluator=args.evaluator,
        batch_size=args.batch_size,
    )
    metrics = result["metrics"]
    print(
        f"AP {metrics['AP']:.4f}  AP50 {metrics['AP50']:.4f}  AR100 {metrics['AR100']:.4f}  "
        f"({metrics['num_images']} images) -> {'blessed' if result['blessed'] else 'NOT blessed'}"
    )
    for reason in result["reasons"]:
        print(f"  {reason}")
    print(f"wrote {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns 0 on success, 2 with ``error: ...`` on a user mistake."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
