"""TF Serving warm-up requests: ``assets.extra/tf_serving_warmup_requests`` of a version.

TensorFlow Serving replays this file (a TFRecord of ``PredictionLog`` protos) when it loads a
version, before it marks the version available, so the first user request does not pay for
the lazy initialisation, and a version that cannot answer fails to load instead of being
reported as loaded (tensorflow/serving#1086). Each record here is a ``PredictLog`` whose
``PredictRequest`` calls ``serving_default`` with one image (``images``: uint8 [1, H, W, 3],
scaled down to at most :data:`MAX_SIDE` pixels on its longer side).

The images are the first :data:`NUM_IMAGES` of the test split of the Examples the model was
evaluated on when that artifact is readable, else the raccoon images bundled with nasdet (a
push pod on a cluster does not see the evaluate pod's artifacts). The push step's load check
replays the same records (``components.push.load_check``).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from components import files
from components.files import join

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_PATH = f"{WARMUP_DIR}/{WARMUP_FILE}"
SIGNATURE = "serving_default"
INPUT_KEY = "images"
NUM_IMAGES = 3
# Warm-up images are scaled down to this longer side (the model resizes every image to its own
# input size anyway): three bundled images then take 0.66 MB in a version (3.1 MB unscaled).
MAX_SIDE = 320
BUNDLED_IMAGES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "data",
    "sample",
    "raccoon",
    "images",
)


def warmup_images(examples_dir: str | None, limit: int = NUM_IMAGES) -> tuple[list, str]:
    """``(images, source)``: up to ``limit`` uint8 [H, W, 3] arrays and where they came from."""
    if examples_dir:
        images = _test_split_images(examples_dir, limit)
        if images:
            return [_shrink(i) for i in images], f"{examples_dir} (test split)"
    from PIL import Image

    names = sorted(n for n in os.listdir(BUNDLED_IMAGES) if n.endswith(".jpg"))[:limit]
    images = []
    for name in names:
        with Image.open(os.path.join(BUNDLED_IMAGES, name)) as pil:
            images.append(_shrink(np.asarray(pil.convert("RGB"), dtype=np.uint8)))
    return images, "the bundled raccoon images"


def _shrink(image: np.ndarray) -> np.ndarray:
    """``image`` scaled down (bilinear) so that its longer side is at most :data:`MAX_SIDE`."""
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return image
    from PIL import Image

    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR), dtype=np.uint8)


def _test_split_images(examples_dir: str, limit: int) -> list:
    """The first ``limit`` images of the test split, or [] when the split is not readable."""
    try:
        if not files.is_dir(examples_dir):
            return []
        from components.data import example_reader

        images = []
        for example in example_reader.read_split(examples_dir, "test").take(limit):
            images.append(np.asarray(example["image"], dtype=np.uint8))
        return images
    except Exception:  # noqa: BLE001 - any unreadable split falls back to the bundled images
        return []


def build_records(images: list, model_name: str) -> list[bytes]:
    """One serialised ``PredictionLog`` per image: ``serving_default`` with it as a batch of 1."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    for image in images:
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SIGNATURE)
        )
        request.inputs[INPUT_KEY].CopyFrom(tf.make_tensor_proto(image[None], dtype=tf.uint8))
        log = prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)
        )
        records.append(log.SerializeToString())
    return records


def write(version_dir: str, records: list[bytes]) -> str:
    """Write ``records`` as ``assets.extra/tf_serving_warmup_requests`` of ``version_dir``.

    Written with TensorFlow's TFRecord writer into a local file first, then copied through
    the files layer (``version_dir`` may be an object-store URI). Returns the file's path.
    """
    import tensorflow as tf

    target = join(version_dir, WARMUP_DIR, WARMUP_FILE)
    with tempfile.TemporaryDirectory(prefix="nasdet-warmup-") as scratch:
        local = os.path.join(scratch, WARMUP_FILE)
        with tf.io.TFRecordWriter(local) as writer:
            for record in records:
                writer.write(record)
        files.make_dirs(join(version_dir, WARMUP_DIR))
        files.copy(local, target)
    return target


def read_requests(path: str) -> list[dict[str, np.ndarray]]:
    """The inputs of every ``PredictRequest`` in the warm-up file at (local) ``path``.

    Raises ValueError when a record is not a ``predict_log`` for ``serving_default``.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{path}: a warm-up record is not a predict_log")
        request = log.predict_log.request
        if request.model_spec.signature_name != SIGNATURE:
            raise ValueError(
                f"{path}: a warm-up request calls {request.model_spec.signature_name!r}, "
                f"not {SIGNATURE!r}"
            )
        requests.append({k: tf.make_ndarray(v) for k, v in request.inputs.items()})
    return requests
