"""``nasdet serve`` answers real HTTP requests on loopback (v1 and v2, base64 images and uint8
tensors) with the detections of the SavedModel's own signatures called directly, and follows a
newly pushed version while serving."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from components.serve import codec

ROOT = pathlib.Path(__file__).resolve().parents[3]
IMAGES = ROOT / "components" / "data" / "sample" / "raccoon" / "images"
TOL = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class Server:
    def __init__(self, argv: list[str], log: pathlib.Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "components.serve", *argv, "--port", str(self.port)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, name: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the server exited: {pathlib.Path(self.log.name).read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base}/v1/models/{name}", timeout=2) as r:
                    if json.loads(r.read()).get("ready"):
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError("the server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def tiny_version(tmp_path_factory) -> pathlib.Path:
    """A pushed-version folder of a tiny untrained detector (scores spread over 0..1)."""
    import keras

    from components.artifacts.model import CONFIG_FILE
    from components.detector import export
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    keras.utils.set_random_seed(5)
    config = get_preset("tiny").with_overrides(
        {
            "num_classes": 2,
            "image_size": 64,
            "bifpn.width": 16,
            "bifpn.depth": 1,
            "head.depth": 1,
            "backbone.cells.stem_width": 8,
            "backbone.cells.filters": 8,
            "postprocess.score_threshold": 0.05,
            "postprocess.max_detections": 20,
        }
    )
    detector = build_detector(config)
    head = detector.get_layer("class_net_out")
    kernel, bias = head.get_weights()[:-1], head.get_weights()[-1]
    head.set_weights([k * 30.0 for k in kernel] + [np.full_like(bias, -2.0)])
    labels = {
        "classes": [
            {"id": 1, "name": "raccoon", "source_id": 1},
            {"id": 2, "name": "dog", "source_id": 2},
        ]
    }
    artifact = tmp_path_factory.mktemp("serve_model")
    export.export_saved_model(detector, config, labels, str(artifact))
    config.save(artifact / CONFIG_FILE)
    version = tmp_path_factory.mktemp("serving") / "det" / "1"
    shutil.copytree(artifact / "saved_model", version)
    shutil.copy(artifact / "labels.json", version / "labels.json")
    return version


def _direct(version: pathlib.Path, pixels: list[np.ndarray]) -> list[dict]:
    """serving_default called directly, one image at a time, as the codec reports it."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = []
    for image in pixels:
        raw = {k: v.numpy() for k, v in serve(images=tf.constant(image[None])).items()}
        out += codec.detections(raw, {1: "raccoon", 2: "dog"})
    return out


def _same(got: dict, want: dict) -> None:
    assert got["num_detections"] == want["num_detections"] > 0
    assert got["class_ids"] == want["class_ids"]
    assert got["class_names"] == want["class_names"]
    np.testing.assert_allclose(got["boxes"], want["boxes"], atol=TOL)
    np.testing.assert_allclose(got["scores"], want["scores"], atol=TOL)


@pytest.mark.slow
def test_v1_and_v2_over_http_match_serving_default(tiny_version, tmp_path):
    import tensorflow as tf

    names = ["raccoon-1.jpg", "raccoon-12.jpg"]
    encoded = [(IMAGES / n).read_bytes() for n in names]
    pixels = [tf.io.decode_jpeg(e, channels=3).numpy() for e in encoded]
    want = _direct(tiny_version, pixels)
    b64 = [base64.b64encode(e).decode() for e in encoded]

    server = Server([str(tiny_version), "--name", "det"], tmp_path / "server.log")
    try:
        server.wait_ready("det")
        # v1, base64 images (serving_bytes) and pixel tensors (serving_default)
        status, body = _post(
            f"{server.base}/v1/models/det:predict", {"instances": [{"b64": s} for s in b64]}
        )
        assert status == 200, body
        assert body["model_version"] == "1"
        for got, expected in zip(body["predictions"], want, strict=True):
            _same(got, expected)
        status, body = _post(
            f"{server.base}/v1/models/det:predict", {"instances": [p.tolist() for p in pixels]}
        )
        assert status == 200, body
        for got, expected in zip(body["predictions"], want, strict=True):
            _same(got, expected)
        # v2, BYTES (base64 in JSON) and UINT8
        status, body = _post(
            f"{server.base}/v2/models/det/infer",
            {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [2], "data": b64}]},
        )
        assert status == 200, body
        _check_v2(body, want)
        image = pixels[0]
        status, body = _post(
            f"{server.base}/v2/models/det/infer",
            {
                "inputs": [
                    {
                        "name": "images",
                        "datatype": "UINT8",
                        "shape": [1, *image.shape],
                        "data": image.reshape(-1).tolist(),
                    }
                ]
            },
        )
        assert status == 200, body
        _check_v2(body, want[:1])
        # bad input: 400 with a reason, and the server keeps serving
        status, body = _post(f"{server.base}/v1/models/det:predict", {"instances": "x"})
        assert status == 400 and "instances" in body["error"]
        status, body = _post(
            f"{server.base}/v1/models/det:predict", {"instances": [{"b64": "aGVsbG8="}]}
        )
        assert status == 400, body
        status, body = _post(
            f"{server.base}/v2/models/det/infer",
            {"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [1]}]},
        )
        assert status == 400 and "images" in body["error"]
        assert server.proc.poll() is None
    finally:
        server.stop()


def _check_v2(body: dict, want: list[dict]) -> None:
    outputs = {o["name"]: o for o in body["outputs"]}
    counts = outputs["num_detections"]["data"]
    width = outputs["detection_scores"]["shape"][1]
    boxes = np.reshape(outputs["detection_boxes"]["data"], [len(want), width, 4])
    scores = np.reshape(outputs["detection_scores"]["data"], [len(want), width])
    classes = np.reshape(outputs["detection_classes"]["data"], [len(want), width])
    names = np.reshape(outputs["class_names"]["data"], [len(want), width])
    for row, expected in enumerate(want):
        n = counts[row]
        _same(
            {
                "num_detections": n,
                "boxes": boxes[row, :n].tolist(),
                "scores": scores[row, :n].tolist(),
                "class_ids": classes[row, :n].tolist(),
                "class_names": names[row, :n].tolist(),
            },
            expected,
        )


@pytest.mark.slow
def test_production_follows_a_newly_published_version(tiny_version, tmp_path):
    serving = tmp_path / "serving"
    shutil.copytree(tiny_version, serving / "det" / "1")
    argv = ["production", "--serving-root", str(serving), "--model-name", "det"]
    server = Server([*argv, "--poll-seconds", "0.5"], tmp_path / "server.log")
    body = {
        "instances": [{"b64": base64.b64encode((IMAGES / "raccoon-1.jpg").read_bytes()).decode()}]
    }
    try:
        server.wait_ready("det")
        assert _post(f"{server.base}/v1/models/det:predict", body)[1]["model_version"] == "1"
        staged = serving / "det" / ".tmp-copy"
        shutil.copytree(tiny_version, staged)
        os.rename(staged, serving / "det" / "2")  # published as push does: one rename
        deadline = time.monotonic() + 120
        version = "1"
        while version != "2" and time.monotonic() < deadline:
            status, answer = _post(f"{server.base}/v1/models/det:predict", body)
            assert status == 200, answer
            version = answer["model_version"]
        assert version == "2"
    finally:
        server.stop()


def test_bad_model_is_one_line_error(tmp_path, capsys):
    from components.serve import cli

    assert cli.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert cli.main(["production"]) == 2
    assert "--serving-root" in capsys.readouterr().err
    assert cli.main([str(tmp_path), "--workers", "2"]) == 2
    assert "--workers must be 1" in capsys.readouterr().err
