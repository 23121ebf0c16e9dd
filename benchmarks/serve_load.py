"""The load generator of ``benchmarks/serve.py`` and the statistics of what it measured.

Standard library only: a thread pool of ``concurrency`` workers, each with its own keep-alive
``http.client`` connection, posting the same JSON body back to back until stopped. Every
answer is recorded (when it was sent, its latency, whether it was a valid answer, the
``model_version`` it reports); an answer counts as an error unless it is HTTP 200 with JSON
holding ``predictions`` (v1) or ``outputs`` (v2).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.client
import json
import math
import threading
import time
from collections.abc import Callable, Sequence

TIMEOUT_SECONDS = 120.0


@dataclasses.dataclass(frozen=True)
class Answer:
    """One request: sent at ``sent`` (``time.monotonic()``), answered after ``seconds``."""

    sent: float
    seconds: float
    ok: bool
    version: str | None = None
    error: str | None = None

    @property
    def done(self) -> float:
        return self.sent + self.seconds


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolated linearly between the two
    nearest ranks (NumPy's default method); NaN when there are none."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(answers: Sequence[Answer], elapsed: float) -> dict:
    """``requests``, ``errors``, ``throughput`` (answers per second of ``elapsed``) and the
    ``p50_ms`` / ``p99_ms`` / ``max_ms`` latency of the valid answers."""
    ms = [a.seconds * 1000 for a in answers if a.ok]
    return {
        "requests": len(answers),
        "errors": sum(not a.ok for a in answers),
        "throughput": len(answers) / elapsed if elapsed > 0 else math.nan,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms, default=math.nan),
    }


def versions(answers: Sequence[Answer]) -> dict[str, int]:
    """How many valid answers each ``model_version`` gave, in the order they first answered."""
    counts: dict[str, int] = {}
    for answer in sorted(answers, key=lambda a: a.done):
        if answer.ok:
            counts[str(answer.version)] = counts.get(str(answer.version), 0) + 1
    return counts


def read_answer(status: int, data: bytes) -> tuple[bool, str | None, str | None]:
    """``(ok, model_version, error)`` of one HTTP answer of ``nasdet serve``."""
    try:
        body = json.loads(data)
    except ValueError:
        return False, None, f"HTTP {status}: not JSON"
    if status != 200:
        return False, None, f"HTTP {status}: {str(body)[:200]}"
    if not isinstance(body, dict) or not (
        isinstance(body.get("predictions"), list) or isinstance(body.get("outputs"), list)
    ):
        return False, None, "HTTP 200 without predictions or outputs"
    version = body.get("model_version")
    return True, None if version is None else str(version), None


class Load:
    """``concurrency`` workers posting ``body`` to ``http://host:port/path`` until :meth:`stop`.

    ``answers`` grows while they run; ``on_answer`` (if given) is called with each answer from
    the worker's thread.
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        body: bytes,
        concurrency: int,
        on_answer: Callable[[Answer], None] | None = None,
    ):
        self.host, self.port, self.path, self.body = host, port, path, body
        self.concurrency = concurrency
        self.on_answer = on_answer
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._futures: list[concurrent.futures.Future] = []
        self._started = 0.0

    def _post(self, conn: http.client.HTTPConnection) -> Answer:
        sent = time.monotonic()
        start = time.perf_counter()
        try:
            conn.request("POST", self.path, self.body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as err:
            conn.close()  # the next request opens a new connection
            seconds = time.perf_counter() - start
            return Answer(sent, seconds, False, error=f"{type(err).__name__}: {err}")
        seconds = time.perf_counter() - start
        ok, version, error = read_answer(response.status, data)
        return Answer(sent, seconds, ok, version, error)

    def _work(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_SECONDS)
        try:
            while not self._stop.is_set():
                answer = self._post(conn)
                self.answers.append(answer)  # list.append is atomic in CPython
                if self.on_answer is not None:
                    self.on_answer(answer)
        finally:
            conn.close()

    def start(self) -> Load:
        self._started = time.monotonic()
        self._pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, "load")
        self._futures = [self._pool.submit(self._work) for _ in range(self.concurrency)]
        return self

    def stop(self) -> float:
        """Stop sending, wait for the requests under way; return the seconds since start."""
        self._stop.set()
        for future in self._futures:
            future.result()
        self._pool.shutdown()
        return time.monotonic() - self._started


def run_for(host: str, port: int, path: str, body: bytes, concurrency: int, seconds: float):
    """Load for ``seconds``; return ``(answers, elapsed)``."""
    load = Load(host, port, path, body, concurrency).start()
    time.sleep(seconds)
    elapsed = load.stop()
    return load.answers, elapsed
