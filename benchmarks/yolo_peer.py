"""YOLOv8n trained from scratch, for ``benchmarks/quality.py``: run with the interpreter of a
separate environment that has ``ultralytics`` (never a dependency of nasdet).

``python yolo_peer.py --data DIR/data.yaml --imgsz 256 --seconds 120 --seed 0`` trains
``yolov8n.yaml`` (no pretrained weights) with Ultralytics' own time budget (its schedule is
fitted to the time), predicts the ``val`` images with a 0.001 score floor and at most 100
detections (the COCO protocol, as the evaluate step's ``evaluation`` signature), scores them with
pycocotools against ``DIR/gt.json`` and prints one JSON line.
"""

import argparse
import contextlib
import io
import json
import os
import pathlib
import time

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--imgsz", type=int, default=256)
parser.add_argument("--seconds", type=float, default=120.0)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
os.environ.setdefault("YOLO_OFFLINE", "1")

import torch  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402
from ultralytics import YOLO  # noqa: E402

torch.set_num_threads(os.cpu_count() or 1)
root = pathlib.Path(args.data).parent
project = root / "runs"
name = f"s{args.imgsz}-{int(args.seconds)}-{args.seed}"
started = time.monotonic()
YOLO("yolov8n.yaml").train(
    data=args.data,
    imgsz=args.imgsz,
    epochs=1000,
    time=args.seconds / 3600,
    device="cpu",
    workers=2,
    batch=16,
    pretrained=False,
    amp=False,
    plots=False,
    val=False,
    seed=args.seed,
    deterministic=True,
    project=str(project),
    name=name,
    exist_ok=True,
    verbose=False,
)
seconds = time.monotonic() - started
model = YOLO(str(project / name / "weights" / "last.pt"))
gt_path = str(root / "gt.json")
gt = json.loads(pathlib.Path(gt_path).read_text())
detections = []
for image in gt["images"]:
    path = root / "images" / "val" / image["file_name"]
    result = model.predict(str(path), imgsz=args.imgsz, conf=0.001, max_det=100, verbose=False)[0]
    for (x0, y0, x1, y1), score, cls in zip(
        result.boxes.xyxy.tolist(),
        result.boxes.conf.tolist(),
        result.boxes.cls.tolist(),
        strict=True,
    ):
        detections.append(
            {
                "image_id": image["id"],
                "category_id": int(cls) + 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "score": score,
            }
        )
with contextlib.redirect_stdout(io.StringIO()):
    truth = COCO(gt_path)
    stats = [0.0] * 12
    if detections:
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        stats = evaluation.stats
print(json.dumps({"seconds": seconds, "AP": float(stats[0]), "AP50": float(stats[1])}))
