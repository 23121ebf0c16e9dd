"""``nasdet describe PRESET|FILE|FOLDER``: parameters, FLOPs, levels and anchors.

Prints one line each; FLOPs are multiply-adds at the config's input size, as the EfficientDet
paper counts FLOPs. An unknown preset or a bad file gives ``error: ...`` and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main
from components.detector import backbones
from components.detector.config import DetectorConfig
from components.detector.config_load import load_architecture


def describe(config: DetectorConfig) -> dict[str, object]:
    """Build the detector of ``config`` and return its summary.

    Keys: name, backbone, image_size, num_classes, parameters (int), trainable_parameters,
    flops (multiply-adds for one image at the input size), levels (list of ints) and anchors
    (anchors per image).
    """
    from components.detector import anchors, flops, model

    detector = model.build_detector(config)
    return {
        "name": config.name,
        "backbone": backbones.get(config.backbone.kind).description(config.backbone),
        "image_size": config.image_size,
        "num_classes": config.num_classes,
        "parameters": int(detector.count_params()),
        "trainable_parameters": int(sum(int(w.numpy().size) for w in detector.trainable_weights)),
        "flops": int(flops.count_macs(detector)),
        "levels": list(config.levels),
        "anchors": int(anchors.num_anchors(config)),
    }


def format_summary(summary: dict[str, object]) -> str:
    """Return the human-readable lines ``nasdet describe`` prints for a ``describe`` summary."""
    levels = summary["levels"]
    return "\n".join(
        [
            f"architecture: {summary['name']} ({summary['backbone']} backbone, "
            f"{summary['num_classes']} classes)",
            f"parameters: {summary['parameters']:,} ({summary['parameters'] / 1e6:.2f} M)",
            f"flops: {summary['flops']:,} multiply-adds at {summary['image_size']}x"
            f"{summary['image_size']} ({summary['flops'] / 1e9:.2f} B; multiply-adds, as the "
            "EfficientDet paper counts FLOPs)",
            f"levels: P{levels[0]}-P{levels[-1]} (strides "
            + ", ".join(str(2**lvl) for lvl in levels)
            + ")",
            f"anchors: {summary['anchors']:,} per image",
        ]
    )


def _main(argv: Sequence[str] | None) -> int:
    parser = StepArgumentParser(prog="nasdet describe", description=__doc__.splitlines()[0])
    help_ = (
        "a preset name (tiny, d0..d7), an architecture.json file, an Architecture or Model "
        "artifact folder, or a pushed version"
    )
    parser.add_argument("source", nargs="?", help=help_)
    parser.add_argument("--architecture", help="the same as SOURCE")
    args = parser.parse_args(argv)
    if not (args.source or args.architecture):
        parser.error("give a SOURCE (or --architecture): " + help_)
    config = load_architecture(args.architecture or args.source)
    sys.stdout.write(format_summary(describe(config)) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasdet describe``; return 0, or 2 with ``error: ...`` on a bad preset or file."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
