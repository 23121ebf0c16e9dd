"""The load generator of ``benchmarks/serve.py``: its percentiles and summaries, what counts as
an error, and a short load against a stub HTTP server on loopback."""

from __future__ import annotations

import http.server
import importlib.util
import json
import math
import pathlib
import sys
import threading

import numpy as np
import pytest

PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"
_spec = importlib.util.spec_from_file_location("serve_load", PATH)
serve_load = importlib.util.module_from_spec(_spec)
sys.modules["serve_load"] = serve_load  # its dataclass looks its module up there
_spec.loader.exec_module(serve_load)


def test_percentile_matches_numpy():
    assert serve_load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert serve_load.percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert serve_load.percentile([7.0], 99) == 7.0
    assert math.isnan(serve_load.percentile([], 50))
    values = np.random.default_rng(0).lognormal(3, 1, 997).tolist()
    for q in (0, 1, 50, 90, 99, 100):
        assert serve_load.percentile(values, q) == pytest.approx(np.percentile(values, q))
    with pytest.raises(ValueError):
        serve_load.percentile(values, 101)


def test_summarize_counts_errors_and_times_only_valid_answers():
    answers = [serve_load.Answer(0.0, s / 1000, True, "1") for s in range(1, 101)]
    answers += [serve_load.Answer(0.0, 60.0, False, error="timeout")] * 2
    summary = serve_load.summarize(answers, elapsed=10.2)
    assert summary["requests"] == 102 and summary["errors"] == 2
    assert summary["throughput"] == pytest.approx(10.0)
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p99_ms"] == pytest.approx(99.01)
    assert summary["max_ms"] == pytest.approx(100.0)


def test_read_answer_and_versions():
    ok = json.dumps({"predictions": [], "model_version": "3"}).encode()
    assert serve_load.read_answer(200, ok) == (True, "3", None)
    assert serve_load.read_answer(200, b'{"outputs": [], "model_version": "2"}')[:2] == (True, "2")
    assert not serve_load.read_answer(200, b'{"error": "x"}')[0]
    assert not serve_load.read_answer(500, b'{"error": "boom"}')[0]
    assert not serve_load.read_answer(200, b"<html>")[0]
    answers = [
        serve_load.Answer(2.0, 0.1, True, "2"),
        serve_load.Answer(1.0, 0.1, True, "1"),
        serve_load.Answer(3.0, 0.1, True, "1"),
        serve_load.Answer(4.0, 0.1, False),
    ]
    assert serve_load.versions(answers) == {"1": 2, "2": 1}
    assert list(serve_load.versions(answers)) == ["1", "2"]


class _Stub(http.server.BaseHTTPRequestHandler):
    """Answers like ``nasdet serve`` v1; every third request fails with HTTP 500."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator uses it
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with _Stub.lock:
            _Stub.count += 1
            fail = _Stub.count % 3 == 0
        body = json.dumps({"error": "boom"} if fail else {"predictions": [], "model_version": "1"})
        self.send_response(500 if fail else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def test_load_records_every_answer_against_a_stub_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        answers, elapsed = serve_load.run_for("127.0.0.1", port, "/v1/x", b"{}", 3, 0.5)
    finally:
        server.shutdown()
        server.server_close()
    summary = serve_load.summarize(answers, elapsed)
    assert summary["requests"] == len(answers) == _Stub.count >= 6
    assert summary["errors"] == _Stub.count // 3
    assert all(a.version == "1" for a in answers if a.ok)
    assert all(a.error.startswith("HTTP 500") for a in answers if not a.ok)
    assert elapsed >= 0.5
