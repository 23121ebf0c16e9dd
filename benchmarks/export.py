"""Latency of the export formats against the SavedModel, measured in the same run.

    .venv/bin/python benchmarks/export.py [--presets tiny d0] [--runs 20] [--formats ...]

For each preset the script builds a detector with untrained (random, seeded) weights, exports
its SavedModel, then exports it with ``nasdet export``'s own code (``components.export.run``,
the parity check off: untrained weights detect nothing meaningful) to every format: ONNX,
OpenVINO in float32 and in bfloat16, LiteRT in float32 and int8 (calibrated on the bundled
images). Untrained weights cost the same arithmetic as trained ones, so the latency holds for
a trained model of the same architecture; nothing is downloaded.

Every runner (the SavedModel's ``serving_default`` included) is then called at batch 1 on the
same seeded uint8 image of the preset's size, all in turns call by call after a warm-up
(``components.export.timing``), with the thread count printed; the table gives the medians and
each format's speed-up over the SavedModel (SavedModel median / format median).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (label, format, int8, precision)
VARIANTS = (
    ("onnx", "onnx", False, "fp32"),
    ("openvino fp32", "openvino", False, "fp32"),
    ("openvino bf16", "openvino", False, "bf16"),
    ("tflite fp32", "tflite", False, "fp32"),
    ("tflite int8", "tflite", True, "fp32"),
)


def saved_model(preset: str, folder: str) -> None:
    """Export an untrained ``preset`` detector (seed 0) as a Model artifact in ``folder``."""
    import keras

    from components.artifacts.model import CONFIG_FILE
    from components.detector import export
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    keras.utils.set_random_seed(0)
    config = get_preset(preset)
    labels = {"classes": [{"id": k, "name": f"class{k}"} for k in range(1, config.num_classes + 1)]}
    export.export_saved_model(build_detector(config), config, labels, folder)
    config.save(os.path.join(folder, CONFIG_FILE))


def bench(preset: str, labels: list[str], runs: int, work: str) -> list[dict]:
    """Export ``preset`` to each variant; time them all beside the SavedModel."""
    from components.artifacts.model import locate_model
    from components.evaluate.predict import load_serving_fn
    from components.export import formats, run, timing
    from components.export.raw_model import load_config

    model = os.path.join(work, preset)
    saved_model(preset, model)
    threads = timing.cpu_threads()
    runners = {
        "savedmodel": load_serving_fn(locate_model(model).saved_model_dir, "serving_default")
    }
    for label, name, int8, precision in VARIANTS:
        if label not in labels:
            continue
        out = os.path.join(work, f"{preset}-{label.replace(' ', '-')}")
        record = run(model, name, output_dir=out, int8=int8, check=False, runs=0)
        print(f"  {preset} {label}: exported in {record['export_seconds']} s", flush=True)
        fmt = formats.get_format(name)
        runners[label] = fmt.load("runner")(out, record["file"], threads, precision)
    size = int(load_config(model).image_size)
    measured = timing.measure_ms(runners, timing.test_image(size), runs)
    base = measured["savedmodel"]["median_ms"]
    return [
        {
            "preset": preset,
            "size": size,
            "runtime": label,
            "median_ms": m["median_ms"],
            "p90_ms": m["p90_ms"],
            "speedup": base / m["median_ms"],
        }
        for label, m in measured.items()
    ]


def main() -> int:
    from components.export import timing

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "d0"])
    parser.add_argument("--formats", nargs="+", default=[v[0] for v in VARIANTS])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"threads: {timing.cpu_threads()}; batch 1; median of {args.runs} runs after a warm-up")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for preset in args.presets:
            rows += bench(preset, args.formats, args.runs, work)
    print("\n| preset | input | runtime | median ms | p90 ms | speed-up vs SavedModel |")
    print("|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['size']} | {r['runtime']} | {r['median_ms']:.1f} | "
            f"{r['p90_ms']:.1f} | {r['speedup']:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
