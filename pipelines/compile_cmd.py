"""``nasdet compile``: write the pipeline as KFP v2 IR YAML for a cluster profile.

``nasdet compile --output FILE [--image IMAGE] [--profile FILE]``; ``--golden`` regenerates the
golden files under ``pipelines/golden/`` that the tests compare against, and the parameter
table of the README (``python -m pipelines.compile_cmd --golden``). Compiling imports neither TensorFlow nor the
steps.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence

from components.cli_args import StepArgumentParser, run_main
from components.errors import UserError
from pipelines import parameter_docs
from pipelines import profile as profile_lib

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
# golden file name -> profile it is compiled with
GOLDEN = {
    "nasdet-default.yaml": profile_lib.DEFAULT_PROFILE,
    "nasdet-gpu-node-pool.yaml": os.path.join(profile_lib.PROFILES_DIR, "gpu-node-pool.yaml"),
}


def compile_pipeline(output: str, profile: profile_lib.Profile) -> str:
    """Compile the pipeline for ``profile`` into the YAML file ``output``; return its path.

    The file is written to a temporary sibling and renamed, so a failure leaves no partial file.
    """
    from kfp import compiler

    from pipelines.factory import make_pipeline

    output = os.path.abspath(output)
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise UserError(f"output folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(suffix=".yaml", dir=parent)
    os.close(fd)
    try:
        compiler.Compiler().compile(make_pipeline(profile), tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return output


def write_golden() -> list[str]:
    """Regenerate the golden YAML files and the README's parameter table; return the paths."""
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    paths = [
        compile_pipeline(os.path.join(GOLDEN_DIR, name), profile_lib.load(path))
        for name, path in GOLDEN.items()
    ]
    if os.path.isfile(README):
        with open(README, encoding="utf-8") as f:
            text = f.read()
        updated = parameter_docs.replace_table(text)
        if updated != text:
            with open(README, "w", encoding="utf-8") as f:
                f.write(updated)
            paths.append(README)
    return paths


def _parser() -> StepArgumentParser:
    parser = StepArgumentParser(
        prog="nasdet compile", description="Write the nasdet pipeline as KFP v2 IR YAML."
    )
    parser.add_argument("--output", help="the YAML file to write (e.g. nasdet.yaml)")
    parser.add_argument(
        "--profile", help="cluster profile YAML (default: pipelines/profiles/default.yaml)"
    )
    parser.add_argument("--image", help="the nasdet image (overrides the profile's image)")
    parser.add_argument(
        "--golden", action="store_true", help="regenerate the golden files in pipelines/golden/"
    )
    return parser


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.golden:
        for path in write_golden():
            print(f"wrote {os.path.relpath(path)}")
        return 0
    if not args.output:
        parser.error("the following arguments are required: --output")
    profile = profile_lib.load(args.profile)
    if args.image:
        profile = profile.with_image(args.image)
    path = compile_pipeline(args.output, profile)
    print(f"wrote {path} (image {profile.image})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``nasdet compile``: parse ``argv``, compile, return the exit status (2 on bad usage)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
