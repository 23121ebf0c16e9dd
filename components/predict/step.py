"""The predict command's work: run a model on images, write pictures, JSON and labels.

:func:`run` takes plain values and paths (see ``components.predict.records`` for the files it
writes). The model runs through its ``serving_default`` signature, exactly as it is served:
boxes come back in the original image's frame, so nothing is rescaled here. Images are decoded
with Pillow in their stored pixel frame (EXIF orientation not applied), the frame training and
serving see (TensorFlow ignores EXIF too). An image that
cannot be decoded is skipped, named in the summary's ``skipped`` and on stderr; never dropped
silently.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

import numpy as np

from components.artifacts.model import read_label_names
from components.errors import UserError
from components.predict import draw, sources
from components.predict.model_ref import recorded_threshold, resolve_model
from components.predict.records import Detection

DEFAULT_CONF = 0.25
DEFAULT_MAX_DET = 100
DEFAULT_OUTPUT = os.path.join("runs", "predict")
COCO_RESULTS_FILE = "predictions.json"
IMAGES_FILE = "images.json"
IMAGES_DIR = "images"
LABELS_DIR = "labels"

Progress = Callable[[int, int, str, int], None]  # (done, total, image path, detections)


def run(
    source: str,
    model: str,
    output_dir: str | None = None,
    conf: float | None = None,
    max_det: int = DEFAULT_MAX_DET,
    classes: list[str] | None = None,
    save_txt: bool = False,
    save_images: bool = True,
    serving_root: str | None = None,
    model_name: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Predict on the images of ``source`` with ``model``; return a summary dict.

    Args:
        source: an image, a folder, a glob pattern or a list file (``sources.image_paths``).
        model: a Model artifact, a pushed version, or ``production`` (with ``serving_root`` and
            ``model_name``: the newest pushed version).
        output_dir: where to write (default: the first free ``runs/predict``, ``runs/predict2``..).
        conf: keep detections scoring at least this (None: the best-F1 threshold a pushed
            version recorded, else :data:`DEFAULT_CONF`).
        max_det: keep at most this many detections per image (the best ones).
        classes: keep only these classes (names or ids); None keeps all.
        save_txt: also write YOLO-format ``labels/<name>.txt``.
        save_images: write the annotated pictures under ``images/``.
        progress: called after each image with (done, total, path, detections kept).

    Raises:
        UserError: no images, an unknown model or class, a bad threshold.
    """
    if conf is not None and not 0.0 <= conf <= 1.0:
        raise UserError(f"--conf must be in 0..1, got {conf}")
    if max_det < 1:
        raise UserError(f"--max-det must be at least 1, got {max_det}")
    paths = sources.image_paths(source)
    location = resolve_model(model, serving_root, model_name)
    conf_source = "given"
    if conf is None:
        recorded = recorded_threshold(location)
        conf, conf_source = (
            (recorded, "best F1 on the test split")
            if recorded is not None
            else (DEFAULT_CONF, "default")
        )
    names = read_label_names(location) or {}
    keep = _class_filter(classes, names)
    from components.evaluate.predict import SIGNATURE, load_serving_fn

    serve = load_serving_fn(location.saved_model_dir, signature=SIGNATURE)
    output_dir = output_dir or _free_dir(DEFAULT_OUTPUT)
    os.makedirs(os.path.join(output_dir, LABELS_DIR), exist_ok=True)
    if save_images:
        os.makedirs(os.path.join(output_dir, IMAGES_DIR), exist_ok=True)

    results, index, skipped, stems = [], {}, [], set()
    total = 0
    for done, path in enumerate(paths, start=1):
        image, reason = _decode(path)
        if image is None:
            skipped.append({"image": path, "reason": reason})
            sys.stderr.write(f"warning: skipped {path}: {reason}\n")
            continue
        height, width = image.shape[:2]
        image_id = len(index) + 1
        detections = _detections(serve(image[None]), width, height, names, conf, max_det, keep)
        stem = _unique_stem(path, stems)
        index[image_id] = {"image": path, "name": stem, "width": width, "height": height}
        _write_image_files(
            output_dir, stem, path, image, image_id, detections, save_txt, save_images
        )
        results.extend(d.coco(image_id) for d in detections)
        total += len(detections)
        if progress:
            progress(done, len(paths), path, len(detections))
    _write_json(os.path.join(output_dir, COCO_RESULTS_FILE), results)
    _write_json(os.path.join(output_dir, IMAGES_FILE), {str(k): v for k, v in index.items()})
    return {
        "output_dir": os.path.abspath(output_dir),
        "model": location.root,
        "images": len(index),
        "skipped": skipped,
        "detections": total,
        "conf": conf,
        "conf_source": conf_source,
        "max_det": max_det,
        "classes": sorted(keep) if keep is not None else None,
    }


def _class_filter(classes: list[str] | None, names: dict[int, str]) -> set[int] | None:
    if not classes:
        return None
    by_name = {name: cid for cid, name in names.items()}
    keep = set()
    for item in classes:
        if item in by_name:
            keep.add(by_name[item])
        elif item.isdigit() and (int(item) in names or not names):
            keep.add(int(item))
        else:
            known = ", ".join(f"{cid}={name}" for cid, name in sorted(names.items()))
            raise UserError(f"--classes: unknown class {item!r} (the model's: {known})")
    return keep


def _decode(path: str) -> tuple[np.ndarray | None, str]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as pil:
            return np.asarray(pil.convert("RGB")), ""
    except (UnidentifiedImageError, OSError, ValueError) as err:
        return None, f"cannot decode the image ({err})"


def _detections(outputs, width, height, names, conf, max_det, keep) -> list[Detection]:
    n = int(outputs["num_detections"][0])
    found = []
    for box, score, cls in zip(
        outputs["detection_boxes"][0][:n],
        outputs["detection_scores"][0][:n],
        outputs["detection_classes"][0][:n],
        strict=True,
    ):
        class_id = int(round(float(cls)))
        if score < conf or (keep is not None and class_id not in keep):
            continue
        ymin, xmin, ymax, xmax = (float(v) for v in box)
        xyxy = (xmin * width, ymin * height, xmax * width, ymax * height)
        found.append(Detection(class_id, names.get(class_id, str(class_id)), float(score), xyxy))
    found.sort(key=lambda d: -d.score)
    return found[:max_det]


def _unique_stem(path: str, taken: set[str]) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}_{n}", n + 1
    taken.add(name)
    return name


def _write_image_files(output_dir, stem, path, image, image_id, detections, save_txt, save_images):
    height, width = image.shape[:2]
    record = {
        "image": path,
        "image_id": image_id,
        "width": width,
        "height": height,
        "detections": [d.to_json(width, height) for d in detections],
    }
    _write_json(os.path.join(output_dir, LABELS_DIR, f"{stem}.json"), record)
    if save_txt:
        with open(os.path.join(output_dir, LABELS_DIR, f"{stem}.txt"), "w") as f:
            f.writelines(d.yolo_line(width, height) + "\n" for d in detections)
    if save_images:
        ext = os.path.splitext(path)[1].lower()
        ext = ext if ext in (".jpg", ".jpeg", ".png") else ".jpg"
        draw.annotate(image, detections).save(os.path.join(output_dir, IMAGES_DIR, stem + ext))


def _write_json(path: str, data) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def _free_dir(base: str) -> str:
    if not os.path.exists(base):
        return base
    n = 2
    while os.path.exists(f"{base}{n}"):
        n += 1
    return f"{base}{n}"
