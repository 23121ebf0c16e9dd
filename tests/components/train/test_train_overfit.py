"""End to end on the CPU: a tiny detector overfits 8 sample images, warm start reuses it.

One model is trained per module (from scratch, through ``components.train.run``) and shared.
The overfit check proves anchors, targets, losses, decoding, NMS and the export together: the
exported SavedModel (``serving_bytes`` on the original JPEGs) must reach AP50 >= 0.9
(pycocotools) on the same 8 images.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from components.detector.config_load import get_preset  # noqa: E402
from components.errors import UserError  # noqa: E402
from components.train import run  # noqa: E402

# The tiny preset, tuned to overfit 8 images quickly: no EMA, a higher learning rate.
OVERFIT = {
    "train.learning_rate": 0.24,
    "train.ema_decay": 0.0,
    "train.early_stopping_patience": 0,
}
EPOCHS = 50  # 4 steps each (32 examples: the 8 images 4 times)


class FirstStepLoss(keras.callbacks.Callback):
    """Remember the loss of the first training step."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = None

    def on_train_batch_end(self, batch, logs=None):
        if self.loss is None:
            self.loss = float(logs["loss"])


@pytest.fixture(scope="module")
def overfit_model(tmp_path_factory, overfit_x4_examples):
    """Train the tiny config from scratch; return (artifact dir, architecture file, first loss)."""
    root = tmp_path_factory.mktemp("overfit_model")
    arch = root / "architecture.json"
    arch.write_text(get_preset("tiny").with_overrides(OVERFIT).to_json())
    first = FirstStepLoss()
    summary = run(
        str(overfit_x4_examples),
        str(arch),
        str(root / "model"),
        epochs=EPOCHS,
        extra_callbacks=[first],
        verbose=2,
    )
    return root / "model", arch, first.loss, summary


def _ap50(saved_model_dir, truth_images) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    loaded = tf.saved_model.load(str(saved_model_dir))
    encoded = [item["encoded"] for item in truth_images]
    out = loaded.signatures["serving_bytes"](images=tf.constant(encoded))
    out = {k: v.numpy() for k, v in out.items()}
    truth = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "raccoon"}]}
    detections = []
    for i, item in enumerate(truth_images):
        h, w, boxes = item["height"], item["width"], item["boxes"]
        truth["images"].append({"id": i + 1, "height": h, "width": w})
        for ymin, xmin, ymax, xmax in boxes:
            bw, bh = (xmax - xmin) * w, (ymax - ymin) * h
            truth["annotations"].append(
                {
                    "id": len(truth["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "bbox": [xmin * w, ymin * h, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
        n = int(out["num_detections"][i])
        for (ymin, xmin, ymax, xmax), score, cls in zip(
            out["detection_boxes"][i][:n],
            out["detection_scores"][i][:n],
            out["detection_classes"][i][:n],
            strict=True,
        ):
            detections.append(
                {
                    "image_id": i + 1,
                    "category_id": int(round(cls)),
                    "score": float(score),
                    "bbox": [
                        float(xmin * w),
                        float(ymin * h),
                        float((xmax - xmin) * w),
                        float((ymax - ymin) * h),
                    ],
                }
            )
    assert detections, "the model detects nothing"
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = truth
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(detections), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[1])


@pytest.mark.slow
def test_tiny_detector_overfits_eight_images(overfit_model, overfit_truth):
    model_dir, _, _, summary = overfit_model
    assert summary["epochs_run"] == EPOCHS and summary["train_images"] == 32
    assert len(overfit_truth) == 8
    assert _ap50(model_dir / "saved_model", overfit_truth) >= 0.9
    labels = json.loads((model_dir / "labels.json").read_text())
    assert labels["classes"][0]["name"] == "raccoon"


@pytest.mark.slow
def test_warm_start_loads_the_given_model(overfit_model, overfit_x4_examples, tmp_path):
    model_dir, arch, scratch_first_loss, _ = overfit_model
    first = FirstStepLoss()
    summary = run(
        str(overfit_x4_examples),
        str(arch),
        str(tmp_path / "warm"),
        epochs=1,
        warm_start=str(model_dir),
        extra_callbacks=[first],
        verbose=0,
    )
    assert summary["epochs_run"] == 1
    # The production model already fits these images: its first step is far below scratch's.
    assert first.loss < 0.5 * scratch_first_loss, (first.loss, scratch_first_loss)


@pytest.mark.slow
def test_warm_start_rejects_another_architecture(overfit_model, overfit_x4_examples, tmp_path):
    model_dir, _, _, _ = overfit_model
    other = tmp_path / "other.json"
    other.write_text(get_preset("tiny").with_overrides({"bifpn.width": 24}).to_json())
    with pytest.raises(UserError, match="different architecture.*bifpn.width"):
        run(
            str(overfit_x4_examples),
            str(other),
            str(tmp_path / "m"),
            epochs=1,
            warm_start=str(model_dir),
        )
    assert not (tmp_path / "m").exists()


def test_overfit_examples_hold_the_eight_images_four_times(overfit_x4_examples, overfit_truth):
    from components.data import example_reader

    records = list(example_reader.read_split(str(overfit_x4_examples), "train").take(40))
    assert len(records) == 32
    names = sorted(item["name"] for item in overfit_truth)
    assert sorted({r["source_id"].numpy().decode() for r in records}) == names
    for record in records:
        item = next(t for t in overfit_truth if t["name"] == record["source_id"].numpy().decode())
        np.testing.assert_allclose(record["boxes"].numpy(), np.array(item["boxes"]), atol=1e-6)
