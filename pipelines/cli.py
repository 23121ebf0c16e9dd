"""The ``nasdet`` command: one entry point that dispatches to the steps and pipeline commands.

Step commands (ingest, search, train, describe, evaluate, push, predict) run the step's own
``main(argv)`` from ``components``; pipeline commands (run, compile, upload, submit, schedule,
serving-manifest) live in ``pipelines``. Modules are imported only when their command is used, so
``nasdet compile`` never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipelines.run_local", "run the whole pipeline locally with kfp.local"),
    "ingest": ("components.ingest.cli", "labelled images -> validated TFRecord examples"),
    "search": ("components.search.cli", "architecture search with KerasTuner"),
    "train": ("components.train.cli", "train and export a detector"),
    "describe": ("components.detector.describe", "parameters, FLOPs, levels and anchors"),
    "evaluate": ("components.evaluate.cli", "COCO metrics and blessing"),
    "push": ("components.push.cli", "versioned push of a blessed model"),
    "predict": ("components.predict.cli", "run a model on images: pictures, JSON, labels"),
    "val": ("components.val.cli", "score a model on raw COCO / VOC / YOLO labels"),
    "export": ("components.export.cli", "ONNX / OpenVINO / LiteRT, checked against the SavedModel"),
    "rollback": ("components.push.cli", "serve an earlier pushed version again"),
    "serve": ("components.serve.cli", "KServe model server (v1 and v2 protocols) on a model"),
    "serving-manifest": (
        "pipelines.serving_manifest",
        "the KServe InferenceService serving the pushed versions",
    ),
    "compile": ("pipelines.compile_cmd", "write the KFP IR YAML"),
    "upload": ("pipelines.api_cmds", "upload the pipeline (or a new version) to KFP"),
    "submit": ("pipelines.api_cmds", "start a run on KFP"),
    "schedule": ("pipelines.api_cmds", "create a recurring run on KFP from a cron expression"),
}

_WIDTH = max(map(len, COMMANDS))
USAGE = (
    "usage: nasdet COMMAND [ARGS...] | nasdet --version\n\ncommands:\n"
    + "".join(f"  {name:<{_WIDTH}} {help_}\n" for name, (_, help_) in COMMANDS.items())
    + "\n`nasdet COMMAND --help` describes a command.\n"
)


def version() -> str:
    """The installed distribution's version (``unknown`` when run from an uninstalled tree)."""
    from importlib import metadata

    try:
        return metadata.version("nasdet")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``nasdet COMMAND ARGS`` to the command's ``main``; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        sys.stdout.write(f"nasdet {version()} (Python {sys.version.split()[0]})\n")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        sys.stderr.write(f"error: unknown command {command!r} (try: nasdet --help)\n")
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    entry = getattr(module, f"main_{command}", None) or module.main
    return int(entry(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
