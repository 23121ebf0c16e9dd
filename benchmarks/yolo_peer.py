"""YOLOv8n trained from scratch, for ``benchmarks/quality.py``: run with the interpreter of a
separate environment that has ``ultralytics`` (never a dependency of nasdet).

``python yolo_peer.py --data DIR/data.yaml --imgsz 256 --seconds 120 --seed 0`` trains
``yolov8n.yaml`` (no pretrained weights) for a budget of ``--seconds`` CPU seconds: Ultralytics'
own ``time=`` budget (after each epoch it re-fits the epochs and the LR schedule to the mean epoch
time, and it stops when the time is up), with the trainer's clock swapped for the CPU time (user +
system) of this process and its children, so that other jobs on a shared machine do not eat the
budget. It then predicts the ``val`` images with a 0.001 score floor and at most 100 detections
(the COCO protocol, as the evaluate step's ``evaluation`` signature), scores them with pycocotools
against ``DIR/gt.json`` and prints one JSON line: ``cpu_seconds`` (training, by that clock),
``epochs`` (trained, the last one possibly cut short), ``seconds`` (wall time of the training
call), ``AP`` and ``AP50``.
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
parser.add_argument("--seconds", type=float, default=120.0, help="CPU seconds of training")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
args = parser.parse_args()
os.environ.setdefault("YOLO_OFFLINE", "1")

import psutil  # noqa: E402
import torch  # noqa: E402
import ultralytics.engine.trainer  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402
from ultralytics import YOLO  # noqa: E402


class CpuClock:
    """The trainer's ``time`` module, except that ``time()`` is CPU seconds, not wall seconds."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def time():
        """User + system seconds of this process and its live descendants, plus (``children_*``)
        those of the descendants that have exited, so the clock never runs backwards."""
        me = psutil.Process()
        total = 0.0
        for process in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a dataloader worker may exit meanwhile
                total += sum(process.cpu_times()[:4])
        return total


assert ultralytics.engine.trainer.time is time, "the trainer no longer reads time.time()"
ultralytics.engine.trainer.time = clock = CpuClock()
cpu_at_epoch_end = {}


def note_cpu(trainer):
    """CPU seconds of training at each epoch's end (``final_eval`` calls this again at epoch + 1)."""
    cpu_at_epoch_end[trainer.epoch] = clock.time() - trainer.train_time_start


torch.set_num_threads(args.threads or os.cpu_count() or 1)
root = pathlib.Path(args.data).parent
project = root / "runs"
name = f"s{args.imgsz}-{int(args.seconds)}-{args.seed}"
started = time.monotonic()
yolo = YOLO("yolov8n.yaml")
yolo.add_callback("on_fit_epoch_end", note_cpu)
yolo.train(
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
last_epoch = yolo.trainer.epoch
trained = {
    "cpu_seconds": cpu_at_epoch_end[last_epoch],
    "epochs": last_epoch + 1 - yolo.trainer.start_epoch,
}
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
print(json.dumps({**trained, "seconds": seconds, "AP": float(stats[0]), "AP50": float(stats[1])}))
