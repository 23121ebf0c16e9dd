"""Training speed of the d0 detector vs EfficientNet-B0 alone, and serving overhead.

Measures, in one process, medians over ``--steps`` timed steps (after ``--warmup`` steps):

1. training images/s of the ``d0`` architecture (the full train step: target assignment, focal
   + Huber loss, weight decay, clipping, SGD momentum update, EMA) at each ``--sizes`` (default
   256 and 512 px), batch ``--batch`` (8), float32;
2. the same for the stock ``keras.applications.EfficientNetB0`` alone (forward + backward + SGD
   update, a trivial loss on its pooled features, Keras' own batch norm; d0 runs its backbone
   with ``fused_batch_norm.BatchNormalization``), same batch and size. The d0 and B0 steps
   alternate, so both see the same machine load; prints d0 / B0 ratios (of the medians, and
   the median of the per-round ratios). ``--fused-reference`` adds the comparison with B0
   built with the same fused batch norm, i.e. what d0 adds on top of its backbone;
3. the latency of the exported ``serving_default`` (uint8 image, batch 1, 512 px: resize,
   model, NMS, box mapping) against the bare Keras forward pass of the same model.

Run: ``.venv/bin/python benchmarks/train_step.py [--steps 5] [--jit] [--mixed] [--fused-reference]``. ``--jit``
compiles both train steps with XLA; ``--mixed`` uses mixed_float16 (GPUs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _median_seconds(step, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _batch(size: int, batch: int, max_boxes: int = 100):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))
    boxes = np.zeros((batch, max_boxes, 4), np.float32)
    classes = np.zeros((batch, max_boxes), np.int32)
    for i in range(batch):
        n = 3
        ymin, xmin = rng.uniform(0, 0.5, (2, n))
        h, w = rng.uniform(0.1, 0.5, (2, n))
        boxes[i, :n] = np.stack([ymin, xmin, ymin + h, xmin + w], axis=1)
        classes[i, :n] = rng.integers(1, 91, n)
    labels = {
        "boxes": tf.constant(boxes),
        "classes": tf.constant(classes),
        "num_boxes": tf.constant(np.full((batch,), 3, np.int32)),
    }
    return images, labels


def detector_train_step(size: int, batch: int, jit: bool):
    """Return a callable running one d0 train step at ``size`` px (built and compiled here)."""
    from components.detector.config_load import get_preset
    from components.training.builder import build_trainer

    config = get_preset("d0").replace(image_size=size)
    trainer = build_trainer(
        config, steps_per_epoch=1000, epochs=10, global_batch=batch, jit_compile=jit
    )
    images, labels = _batch(size, batch)
    return lambda: trainer.train_on_batch(images, labels)


def backbone_train_step(size: int, batch: int, jit: bool, fused: bool = False):
    """Return a callable running one EfficientNetB0 (alone) train step at ``size`` px.

    ``fused``: with the fused batch norm that d0's backbone uses, instead of Keras' own.
    """
    import keras
    import tensorflow as tf

    from components.detector.backbone_efficientnet import with_fused_batch_norm

    model = keras.applications.EfficientNetB0(
        weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3)
    )
    if fused:
        model = with_fused_batch_norm(model)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse", jit_compile=jit)
    images, _ = _batch(size, batch)
    target = tf.zeros((batch, model.output_shape[-1]))
    return lambda: model.train_on_batch(images, target)


def interleaved_seconds(first, second, warmup: int, steps: int) -> tuple[float, float, float]:
    """Time ``first`` and ``second`` alternately; return their medians and the median ratio.

    The ratio is the median over rounds of ``second`` seconds / ``first`` seconds (the speed of
    ``first`` relative to ``second``): both steps of a round see the same machine load.
    """
    for _ in range(warmup):
        first()
        second()
    a, b = [], []
    for _ in range(steps):
        for step, times in ((first, a), (second, b)):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    ratios = np.asarray(b) / np.asarray(a)
    return float(np.median(a)), float(np.median(b)), float(np.median(ratios))


def serving_latency(size: int, warmup: int, steps: int) -> tuple[float, float]:
    """Median seconds of exported ``serving_default`` and of the bare forward pass (batch 1)."""
    import tensorflow as tf

    from components.detector import export
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    config = get_preset("d0").replace(image_size=size)
    model = build_detector(config)
    image = np.random.default_rng(1).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    forward = tf.function(lambda x: model(x, training=False))
    as_float = tf.constant(image.astype("float32"))
    bare = _median_seconds(lambda: [t.numpy() for t in forward(as_float)], warmup, steps)
    with tempfile.TemporaryDirectory() as tmp:
        saved = export.export_saved_model(model, config, {"classes": []}, tmp)
        serve = tf.saved_model.load(saved).signatures["serving_default"]
        as_uint8 = tf.constant(image)
        served = _median_seconds(
            lambda: {k: v.numpy() for k, v in serve(images=as_uint8).items()}, warmup, steps
        )
    return served, bare


def main(argv=None) -> int:
    """Run the benchmark and print images/s, latencies and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--jit", action="store_true", help="XLA-compile the train steps")
    parser.add_argument("--mixed", action="store_true", help="mixed_float16 (GPU)")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument(
        "--fused-reference",
        action="store_true",
        help="also compare d0 with EfficientNetB0 using the fused batch norm d0 uses",
    )
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    if args.mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    devices = ", ".join(d.device_type for d in tf.config.list_physical_devices())
    print(
        f"tensorflow {tf.__version__}, keras {keras.__version__}, devices: {devices}, "
        f"threads: {os.cpu_count()}, batch {args.batch}, jit {args.jit}, "
        f"policy {keras.mixed_precision.global_policy().name}, medians of {args.steps} steps"
    )
    for size in args.sizes:
        det, b0, ratio = interleaved_seconds(
            detector_train_step(size, args.batch, args.jit),
            backbone_train_step(size, args.batch, args.jit),
            args.warmup,
            args.steps,
        )
        det_ips, b0_ips = args.batch / det, args.batch / b0
        print(
            f"{size} px: d0 train {det_ips:.2f} img/s ({det:.2f} s/step), "
            f"EfficientNetB0 alone {b0_ips:.2f} img/s ({b0:.2f} s/step), "
            f"ratio d0/B0 = {det_ips / b0_ips:.2f} (median of per-step ratios {ratio:.2f})"
        )
        if args.fused_reference:
            det, b0, ratio = interleaved_seconds(
                detector_train_step(size, args.batch, args.jit),
                backbone_train_step(size, args.batch, args.jit, fused=True),
                args.warmup,
                args.steps,
            )
            print(
                f"{size} px: d0 train {args.batch / det:.2f} img/s, EfficientNetB0 alone with "
                f"fused batch norm {args.batch / b0:.2f} img/s, ratio d0/B0-fused = {b0 / det:.2f} "
                f"(median of per-step ratios {ratio:.2f})"
            )
    if not args.skip_serving:
        keras.mixed_precision.set_global_policy("float32")
        served, bare = serving_latency(512, args.warmup, args.steps)
        print(
            f"512 px, batch 1: serving_default {served * 1000:.0f} ms, bare forward {bare * 1000:.0f} ms, "
            f"ratio = {served / bare:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
