"""``nasdet search`` / ``python -m components.search``: search an architecture, write the artifact."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main
from components.detector.zero_cost import score_names
from components.search.choices import ALGORITHMS, OBJECTIVES
from components.search.space import SPACES
from components.tuner_settings import BASE_LATENCY, MIN, STEP, parse_max_latency


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _max_latency(text: str) -> float | None:
    try:
        return parse_max_latency(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> StepArgumentParser:
    """Return the argument parser of ``nasdet search``."""
    parser = StepArgumentParser(
        prog="nasdet search",
        description="Search a detector architecture with KerasTuner and write the Architecture "
        "artifact (architecture.json, hyperparameters.json, trials.csv, report.md). Running the "
        "same command again on the same output resumes the search.",
    )
    parser.add_argument(
        "--examples", required=True, help="Examples directory (nasdet ingest output)"
    )
    parser.add_argument("--output", required=True, help="Architecture artifact directory to write")
    parser.add_argument("--algorithm", default=STEP.algorithm, choices=ALGORITHMS)
    parser.add_argument(
        "--max-trials",
        type=_int_at_least(MIN["max_trials"]),
        default=STEP.max_trials,
        help="trials in all",
    )
    parser.add_argument(
        "--epochs",
        type=_int_at_least(MIN["epochs"]),
        default=STEP.epochs,
        help="epochs per trial (Hyperband: at most)",
    )
    parser.add_argument(
        "--workers",
        type=_int_at_least(MIN["workers"]),
        default=STEP.workers,
        help="distributed search with N workers (subprocesses, or pods inside a cluster)",
    )
    parser.add_argument("--seed", type=int, default=STEP.seed)
    parser.add_argument("--space", default=STEP.space, choices=tuple(SPACES))
    parser.add_argument("--objective", default=STEP.objective, choices=OBJECTIVES)
    parser.add_argument(
        "--latency-weight",
        type=float,
        default=STEP.latency_weight,
        help="latency-aware reward AP * (latency / base preset's latency)^w on measured "
        "latency (MnasNet: -0.07; 0 = AP alone)",
    )
    parser.add_argument(
        "--max-latency-ms",
        type=_max_latency,
        default=STEP.max_latency_ms,
        metavar=f"{BASE_LATENCY}|MS",
        help="hard limit on the measured serving latency: a candidate over it is refused before "
        f"training ({BASE_LATENCY}, the default: the space's base preset's latency measured "
        "here at the start; 0 or less: no limit)",
    )
    parser.add_argument(
        "--serving-size",
        type=_int_at_least(0),
        default=0,
        help="input size the latencies are measured at, the one the pick will be served at "
        "(a multiple of 32; 0: each architecture's own)",
    )
    parser.add_argument(
        "--screen",
        type=_int_at_least(MIN["screen"]),
        default=STEP.screen,
        metavar="N",
        help="screen N sampled architectures with a training-free score first: those over the "
        "latency limit are dropped, the best --max-trials of the others are trained (0: none)",
    )
    parser.add_argument(
        "--proxy",
        default=STEP.proxy,
        choices=score_names(),
        help="the training-free score the screening ranks by",
    )
    parser.add_argument(
        "--trial-budget-s",
        type=float,
        default=STEP.trial_budget_s,
        metavar="S",
        help="CPU seconds of training per trial, the epochs (at most --epochs) and the "
        "schedule fitted to them as the train step fits the pick's (0: --epochs epochs)",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=STEP.budget_s,
        metavar="S",
        help="seconds the search may take, screening and trials: no trial starts after "
        "that (0: no time budget; --max-trials caps the trials either way)",
    )
    parser.add_argument(
        "--confirm",
        type=_int_at_least(MIN["confirm"]),
        default=STEP.confirm,
        metavar="N",
        help="with --budget-s (random and Bayesian search): the end of the budget trains the "
        "N best networks again with another seed and the pick is the best mean (0: the best "
        "single trial)",
    )
    parser.add_argument(
        "--reuse-architecture",
        metavar="FILE|PRESET",
        help="skip the search and pass this architecture on",
    )
    parser.add_argument(
        "--work-dir",
        help="tuner working directory kept for resuming, a path or a URI (default: <output>.work)",
    )
    parser.add_argument("--train-images", type=_int_at_least(1), help="cap on training images")
    parser.add_argument("--eval-images", type=_int_at_least(1), help="cap on eval images")
    parser.add_argument("-v", "--verbose", action="store_true", help="Keras progress output")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    from components.search.step import run, summary_json

    summary = run(
        args.examples,
        args.output,
        algorithm=args.algorithm,
        max_trials=args.max_trials,
        epochs=args.epochs,
        workers=args.workers,
        seed=args.seed,
        space=args.space,
        objective=args.objective,
        reuse_architecture=args.reuse_architecture,
        work_dir=args.work_dir,
        latency_weight=args.latency_weight,
        max_latency_ms=args.max_latency_ms,
        serving_size=args.serving_size,
        screen=args.screen,
        proxy=args.proxy,
        trial_budget_s=args.trial_budget_s,
        budget_s=args.budget_s,
        confirm=args.confirm,
        train_images=args.train_images,
        eval_images=args.eval_images,
        verbose="auto" if args.verbose else 0,
    )
    sys.stdout.write(summary_json(summary) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasdet search`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    return run_main(_main, argv)
