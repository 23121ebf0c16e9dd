"""Push: warm-up requests in every version, and the load check in a fresh process that refuses
a staged copy that does not load or answers differently, before anything is published."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from components import files
from components.errors import UserError
from components.push import cli, load_check, push, readiness, warmup
from components.push import run as push_run

# The real launcher (a fresh Python); conftest's autouse fixture replaces it by an in-process
# call for the other push tests.
FRESH_PROCESS = readiness.run_load_check


@pytest.fixture
def fresh_process(monkeypatch):
    monkeypatch.setattr(readiness, "run_load_check", FRESH_PROCESS)


def _tree(root) -> dict[str, bytes]:
    return {rel: files.read_bytes(os.path.join(root, rel)) for rel in files.walk_files(str(root))}


def _warmup_requests(version_dir: str):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests")
    logs = [
        prediction_log_pb2.PredictionLog.FromString(raw)
        for raw in tf.data.TFRecordDataset(path).as_numpy_iterator()
    ]
    return [log.predict_log.request for log in logs]


def test_a_pushed_version_has_warmup_requests_and_passed_its_load_check(
    tmp_path, model_and_blessing, fresh_process
):
    import tensorflow as tf

    model, blessing = model_and_blessing
    result = push_run(model, blessing, str(tmp_path / "serving"), "det")
    version = result["path"]
    requests = _warmup_requests(version)
    assert len(requests) == warmup.NUM_IMAGES
    for request in requests:
        assert request.model_spec.name == "det"
        assert request.model_spec.signature_name == "serving_default"
        images = tf.make_ndarray(request.inputs["images"])
        assert images.dtype == np.uint8 and images.shape[0] == 1 and images.shape[3] == 3
        assert max(images.shape[1:3]) == warmup.MAX_SIDE  # the raccoon images are larger
    record = json.loads((tmp_path / "serving" / "det" / "1" / "push.json").read_text())
    check = record["load_check"]
    assert check == result["load_check"]
    assert check["passed"] is True and check["fresh_process"] is True
    assert check["requests"] == warmup.NUM_IMAGES and check["detections"] == warmup.NUM_IMAGES
    assert check["max_abs_diff"] <= check["tolerance"] == load_check.DEFAULT_TOLERANCE
    assert check["images"] == "the bundled raccoon images"  # the blessing's Examples are gone
    # The recorded requests replayed on the published version give the source model's outputs.
    served = tf.saved_model.load(version).signatures["serving_default"]
    source = tf.saved_model.load(os.path.join(model, "saved_model")).signatures["serving_default"]
    for request in requests:
        images = tf.constant(tf.make_ndarray(request.inputs["images"]))
        np.testing.assert_array_equal(
            served(images=images)["detection_boxes"], source(images=images)["detection_boxes"]
        )


def _truncate_variables(staged: str) -> None:
    data = os.path.join(staged, "variables", "variables.data-00000-of-00001")
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)


def _break_graph(staged: str) -> None:
    with open(os.path.join(staged, "saved_model.pb"), "r+b") as f:
        f.truncate(len(f.read()) // 3)


def _corrupt_staging(monkeypatch, damage) -> None:
    """Damage the staged copy right after it is written (a bad disk, a copy cut short)."""
    real_stage = push._stage

    def stage_then_damage(location, tmp, record, write_records):
        real_stage(location, tmp, record, write_records)
        damage(tmp)

    monkeypatch.setattr(push, "_stage", stage_then_damage)


def test_a_truncated_variables_file_is_refused_and_nothing_changes(
    tmp_path, model_and_blessing, monkeypatch, capsys
):
    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    push_run(model, blessing, str(serving), "det")  # version 1, checked in this process
    monkeypatch.setattr(readiness, "run_load_check", FRESH_PROCESS)
    before = _tree(serving)
    _corrupt_staging(monkeypatch, _truncate_variables)
    argv = ["--model", model, "--blessing", blessing, "--serving-root", str(serving)]
    assert cli.main([*argv, "--model-name", "det"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the staged version failed its load check, nothing was "), err
    assert "cannot load the SavedModel" in err and err.count("\n") == 1
    assert _tree(serving) == before
    assert sorted(os.listdir(serving / "det")) == [".last_version", "1"]


def test_a_broken_saved_model_pb_is_refused_and_nothing_changes(
    tmp_path, model_and_blessing, fresh_process, monkeypatch
):
    model, blessing = model_and_blessing
    serving = tmp_path / "serving"
    _corrupt_staging(monkeypatch, _break_graph)
    with pytest.raises(UserError, match="failed its load check.*cannot load the SavedModel"):
        push_run(model, blessing, str(serving), "det")
    assert sorted(os.listdir(serving / "det")) == []  # no version, no temporary, no marker


def test_a_copy_that_loads_but_answers_differently_is_refused(
    tmp_path, model_and_blessing, other_model, monkeypatch
):
    model, blessing = model_and_blessing
    other = other_model[0]

    def swap_weights(staged: str) -> None:  # a valid checkpoint of another model (scale 0.5)
        shutil.rmtree(os.path.join(staged, "variables"))
        shutil.copytree(os.path.join(other, "saved_model", "variables"), f"{staged}/variables")

    serving = tmp_path / "serving"
    _corrupt_staging(monkeypatch, swap_weights)
    with pytest.raises(UserError, match=r"detection_boxes differs by 0\.25 \(allowed 1e-05\)"):
        push_run(model, blessing, str(serving), "det")
    assert sorted(os.listdir(serving / "det")) == []


def test_compare_rules():
    ref = {
        "detection_boxes": np.full([1, 2, 4], 0.5, np.float32),
        "detection_classes": np.ones([1, 2], np.float32),
        "num_detections": np.array([2.0], np.float32),
    }
    close = {**ref, "detection_boxes": ref["detection_boxes"] + 4e-6}
    assert load_check.compare(close, ref, 1e-5)[1] is None
    assert "detection_boxes differs" in load_check.compare(close, ref, 1e-6)[1]
    other_class = {**ref, "detection_classes": np.array([[1.0, 2.0]], np.float32)}
    assert "detection_classes differs by 1" in load_check.compare(other_class, ref, 1.0)[1]
    nan = {**ref, "detection_boxes": np.full([1, 2, 4], np.nan, np.float32)}
    assert load_check.compare(nan, ref, 1.0)[1] is not None
    shorter = {**ref, "detection_boxes": np.zeros([1, 1, 4], np.float32)}
    assert "shape" in load_check.compare(shorter, ref, 1.0)[1]
    assert "outputs" in load_check.compare({"detection_boxes": ref["detection_boxes"]}, ref, 1)[1]


def test_warmup_images_come_from_the_test_split_when_readable(tmp_path):
    import tensorflow as tf

    from components.artifacts.examples import SHARD_PREFIX, SHARD_SUFFIX, SPLIT_DIR
    from components.data import example_codec, schema

    split_dir = tmp_path / SPLIT_DIR.format(split="test")
    split_dir.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, [40, 600, 3], dtype=np.uint8)
    encoded = tf.io.encode_png(pixels).numpy()
    with tf.io.TFRecordWriter(
        str(split_dir / f"{SHARD_PREFIX}-00000-of-00001{SHARD_SUFFIX}"), options="GZIP"
    ) as writer:
        for index in range(5):
            writer.write(
                example_codec.encode_example(
                    bytes_features={
                        schema.IMAGE_ENCODED: [encoded],
                        schema.IMAGE_FORMAT: [b"png"],
                        schema.IMAGE_FILENAME: [f"{index}.png".encode()],
                        schema.IMAGE_SOURCE_ID: [str(index).encode()],
                    },
                    int64_features={schema.IMAGE_HEIGHT: [40], schema.IMAGE_WIDTH: [600]},
                )
            )
    images, source = warmup.warmup_images(str(tmp_path))
    assert source == f"{tmp_path} (test split)"
    assert len(images) == warmup.NUM_IMAGES
    assert all(i.shape == (21, 320, 3) and i.dtype == np.uint8 for i in images)
    # Missing Examples (another pod's artifact): the bundled images.
    assert warmup.warmup_images(str(tmp_path / "gone"))[1] == "the bundled raccoon images"
