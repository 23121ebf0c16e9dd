"""Load test of ``nasdet serve`` over HTTP against its model called in process; version switch.

v1 and v2 requests at several concurrencies, then a new version pushed under load, all measured
in the same run:

    .venv/bin/python benchmarks/serve.py [--seconds 15] [--concurrency 1 4 8]
        [--protocols v1 v2] [--switch-concurrency 4] [--switch-after 5] [--poll-seconds 2]

Two ``tiny`` detectors with untrained, seeded weights (seeds 0 and 1; untrained weights cost
the same arithmetic as trained ones, and nothing is downloaded) are exported as Model
artifacts with the score floor at ``--score-threshold`` (0.001: an untrained model's scores
sit near the focal prior, under the preset's 0.05, so every answer carries the full
``max_detections`` boxes, the largest answer the model gives, instead of none). The first is
pushed with ``nasdet push`` (its load check included) into a temporary serving root, and
``nasdet serve production`` starts on it in a subprocess on a free loopback port.

For each concurrency and protocol, threads with keep-alive ``http.client`` connections post
the bundled ``raccoon-1.jpg`` as base64 (v1 ``{"instances": [{"b64": ...}]}``, v2 a ``BYTES``
input) back to back for ``--seconds`` (``benchmarks/serve_load.py``); the table gives the
requests, errors, answers per second, p50 / p99 latency and p50 over the baseline: the
served version's ``serving_bytes`` signature (the one those requests run) called in this
process on the same bytes at batch 1, timed before and after the HTTP rows.

Then, while ``--switch-concurrency`` threads post v1 requests, the second model is pushed
with ``nasdet push`` in a subprocess; the server notices the new version within
``--poll-seconds``, loads it, replays its warm-up requests and switches. The load goes on for
``--switch-after`` seconds after the first answer from the new version. Printed: requests,
errors, the versions that answered, the time from the publish (the version folder's rename,
watched on the file system) to the first answer of the new version, p50 / p99 / max latency.
The exit status is 1 when any request failed or the new version never answered.

Client, server, the push and its load check share the machine's cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import serve_load

REPO = pathlib.Path(__file__).resolve().parents[1]
IMAGE = REPO / "components" / "data" / "sample" / "raccoon" / "images" / "raccoon-1.jpg"
HOST = "127.0.0.1"
NAME = "det"
SWITCH_TIMEOUT_S = 1800.0


def export_model(folder: str, seed: int, score_threshold: float) -> None:
    """An untrained ``tiny`` detector (``seed``) as a Model artifact in ``folder``."""
    import keras

    from components.artifacts.model import CONFIG_FILE
    from components.detector import export
    from components.detector.config_load import get_preset
    from components.detector.model import build_detector

    keras.utils.set_random_seed(seed)
    config = get_preset("tiny").with_overrides(
        {"num_classes": 1, "postprocess.score_threshold": score_threshold}
    )
    labels = {"classes": [{"id": 1, "name": "raccoon", "source_id": 1}]}
    export.export_saved_model(build_detector(config), config, labels, folder)
    config.save(os.path.join(folder, CONFIG_FILE))


def bless(model: str) -> str:
    """A blessing of ``model`` (what the evaluation gate writes), beside it."""
    from components.artifacts.model import locate_model, model_fingerprint

    path = model + ".blessing.json"
    decision = {
        "blessed": True,
        "reasons": ["load benchmark: untrained weights, not evaluated"],
        "model": model,
        "model_fingerprint": model_fingerprint(locate_model(model).saved_model_dir),
    }
    pathlib.Path(path).write_text(json.dumps(decision))
    return path


def push(model: str, serving_root: str) -> subprocess.Popen:
    """``nasdet push`` of ``model`` in a subprocess (its load check runs in a further one); its
    output goes to a temporary file (a pipe nobody reads while the load runs could fill up)."""
    argv = ["--model", model, "--blessing", bless(model)]
    argv += ["--serving-root", serving_root, "--model-name", NAME]
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in finish()
    proc = subprocess.Popen(
        [sys.executable, "-m", "components.push", *argv],
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log = log
    return proc


def finish(proc: subprocess.Popen, what: str) -> None:
    """Wait for ``proc`` (from :func:`push`); exit with its output when it failed."""
    proc.wait()
    proc.log.seek(0)
    out = proc.log.read()
    proc.log.close()
    if proc.returncode:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{out}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """``nasdet serve production`` in a subprocess, its output in ``log``."""

    def __init__(self, serving_root: str, poll_seconds: float, log: str):
        self.port = free_port()
        self.log_path = log
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        argv = ["production", "--serving-root", serving_root, "--model-name", NAME]
        argv += ["--port", str(self.port), "--poll-seconds", str(poll_seconds)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "components.serve", *argv],
            cwd=REPO,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 300) -> float:
        import urllib.request

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{pathlib.Path(self.log_path).read_text()}")
            url = f"http://{HOST}:{self.port}/v1/models/{NAME}"
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if json.loads(r.read()).get("ready"):
                        return time.monotonic() - started
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise SystemExit("the server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def requests(image: bytes) -> dict[str, tuple[str, bytes]]:
    """``{protocol: (path, JSON body)}`` posting ``image`` as base64."""
    b64 = base64.b64encode(image).decode()
    v2 = {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": [b64]}]}
    return {
        "v1": (f"/v1/models/{NAME}:predict", json.dumps({"instances": [{"b64": b64}]}).encode()),
        "v2": (f"/v2/models/{NAME}/infer", json.dumps(v2).encode()),
    }


def in_process_ms(version_dir: str, image: bytes, runs: int) -> list[float]:
    """Milliseconds of ``serving_bytes`` on ``image`` at batch 1, ``runs`` calls after 5."""
    import tensorflow as tf

    serve = tf.saved_model.load(version_dir).signatures["serving_bytes"]
    images = tf.constant([image])
    times = []
    for n in range(runs + 5):
        start = time.perf_counter()
        out = serve(images=images)
        _ = {k: v.numpy() for k, v in out.items()}  # what the server does with the outputs
        if n >= 5:
            times.append((time.perf_counter() - start) * 1000)
    return times


def switch(port: int, body: tuple[str, bytes], concurrency: int, after: float, model, root):
    """Load while ``nasdet push`` publishes ``model`` as version 2; return what happened."""
    first_new = threading.Event()

    def on_answer(answer: serve_load.Answer) -> None:
        if answer.version == "2":
            first_new.set()

    load = serve_load.Load(HOST, port, *body, concurrency, on_answer).start()
    time.sleep(2.0)  # the load is under way before the push starts
    pushed_at = time.monotonic()
    proc = push(model, root)
    folder = os.path.join(root, NAME, "2")
    published_at = pushed_s = None
    deadline = pushed_at + SWITCH_TIMEOUT_S
    while not first_new.is_set() and time.monotonic() < deadline:
        if published_at is None and os.path.isdir(folder):  # renamed into place: published
            published_at = time.monotonic()
            print(f"  version 2 published {published_at - pushed_at:.1f} s after the push started")
        if pushed_s is None and proc.poll() is not None:
            pushed_s = time.monotonic() - pushed_at
            if proc.returncode:  # the push failed: nothing will switch
                break
        time.sleep(0.005)
    if first_new.is_set():
        time.sleep(after)
    elapsed = load.stop()
    ended = time.monotonic()
    finish(proc, "the push of version 2")
    new = [a.done for a in load.answers if a.ok and a.version == "2"]
    since = [a for a in load.answers if published_at is not None and a.sent >= published_at]
    return {
        "all": {**serve_load.summarize(load.answers, elapsed), "answers": load.answers},
        "since_publish": {
            **serve_load.summarize(since, ended - (published_at or ended)),
            "answers": since,
        },
        "push_s": pushed_s if pushed_s is not None else time.monotonic() - pushed_at,
        "to_new_s": min(new) - published_at if new and published_at else None,
    }


def print_rows(rows: list[dict]) -> None:
    """The table; the first row is the baseline the last column divides by."""
    base_ms = rows[0]["p50_ms"]
    print(
        "\n| protocol | concurrency | requests | errors | req/s | p50 ms | p99 ms | p50 / in-process |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['protocol']} | {r['concurrency']} | {r['requests']} | {r['errors']} | "
            f"{r['throughput']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['p50_ms'] / base_ms:.2f}x |"
        )


def print_switch(s: dict, concurrency: int, poll_seconds: float) -> None:
    to_new = "never" if s["to_new_s"] is None else f"{s['to_new_s']:.1f} s"
    print(
        f"\nversion switch under v1 load at concurrency {concurrency}: `nasdet push` of version 2 "
        f"took {s['push_s']:.1f} s (its load check included); from the publish to the first "
        f"answer of version 2: {to_new} (poll every {poll_seconds:g} s, load, warm-up)"
    )
    print("\n| window | requests | errors | answers per version | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for label, key in (("whole switch run", "all"), ("sent after the publish", "since_publish")):
        r = s[key]
        seen = ", ".join(f"v{v}: {n}" for v, n in serve_load.versions(r["answers"]).items())
        print(
            f"| {label} | {r['requests']} | {r['errors']} | {seen} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} |"
        )


def measure_rows(port: int, bodies: dict, args) -> list[dict]:
    """The HTTP rows: every concurrency, every protocol, ``args.seconds`` each."""
    for protocol in args.protocols:  # warm-up, not counted
        serve_load.run_for(HOST, port, *bodies[protocol], 1, 1.0)
    rows = []
    for concurrency in args.concurrency:
        for protocol in args.protocols:
            answers, elapsed = serve_load.run_for(
                HOST, port, *bodies[protocol], concurrency, args.seconds
            )
            summary = serve_load.summarize(answers, elapsed)
            rows.append({"protocol": protocol, "concurrency": concurrency, **summary})
            print(f"  {protocol} x{concurrency}: {summary['requests']} requests", flush=True)
            for answer in [a for a in answers if not a.ok][:3]:
                print(f"    error: {answer.error}")
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per row (default 15)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 4, 8], help="threads per row"
    )
    parser.add_argument("--protocols", nargs="+", choices=["v1", "v2"], default=["v1", "v2"])
    parser.add_argument(
        "--switch-concurrency", type=int, default=4, help="threads during the version switch"
    )
    parser.add_argument(
        "--switch-after", type=float, default=5.0, help="seconds of load after the first new answer"
    )
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="the server's (default 2)")
    parser.add_argument(
        "--score-threshold", type=float, default=0.001, help="the models' score floor"
    )
    parser.add_argument("--runs", type=int, default=100, help="in-process calls, before and after")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    image = IMAGE.read_bytes()
    bodies = requests(image)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="nasdet-serve-bench-") as work:
        models = [os.path.join(work, f"model{seed}") for seed in (0, 1)]
        for seed, model in enumerate(models):
            export_model(model, seed, args.score_threshold)
        root = os.path.join(work, "serving")
        started = time.monotonic()
        finish(push(models[0], root), "the push of version 1")
        print(f"pushed version 1 in {time.monotonic() - started:.1f} s", flush=True)
        server = Server(root, args.poll_seconds, os.path.join(work, "server.log"))
        try:
            print(f"server ready after {server.wait_ready():.1f} s", flush=True)
            before = in_process_ms(os.path.join(root, NAME, "1"), image, args.runs)
            rows = measure_rows(server.port, bodies, args)
            after = in_process_ms(os.path.join(root, NAME, "1"), image, args.runs)
            print("pushing version 2 under load", flush=True)
            swapped = switch(
                server.port,
                bodies["v1"],
                args.switch_concurrency,
                args.switch_after,
                models[1],
                root,
            )
        finally:
            server.stop()
    direct = serve_load.summarize(
        [serve_load.Answer(0.0, ms / 1000, True) for ms in before + after],
        sum(before + after) / 1000,
    )
    print(
        f"\nmachine: {os.cpu_count()} cores, load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end; image {IMAGE.name} ({len(image) // 1024} KiB, "
        f"base64 in JSON); in-process serving_bytes median "
        f"{serve_load.percentile(before, 50):.1f} ms before the HTTP rows, "
        f"{serve_load.percentile(after, 50):.1f} ms after"
    )
    print_rows([{"protocol": "in-process serving_bytes", "concurrency": 1, **direct}, *rows])
    print_switch(swapped, args.switch_concurrency, args.poll_seconds)
    for answer in [a for a in swapped["all"]["answers"] if not a.ok][:3]:
        print(f"  error: {answer.error}")
    failed = sum(r["errors"] for r in rows) + swapped["all"]["errors"]
    if failed or swapped["to_new_s"] is None:
        never = "" if swapped["to_new_s"] is not None else "; version 2 never answered"
        print(f"\nFAILED: {failed} requests failed{never}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
