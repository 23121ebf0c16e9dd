"""Progress lines for local runs, distilled from kfp.local's (very verbose) output.

kfp.local prints its own status lines and every task's streamed output to ``sys.stdout``.
``ProgressStream`` stands in for ``sys.stdout`` during a run: it copies everything to the log
file (and each task's own output, without ANSI codes or the executor's JSON, to a file per task),
prints one short line when a task starts and when it finishes, shows the steps' own
progress lines (``progress: epoch 3/50 ...``, ``progress: trial 2/4 ...``: see
``components.progress``; one line updated in place on a terminal, one line each otherwise),
and keeps the last lines of each task's output so that a failure can be shown without the
whole log. (kfp.local does not
print anything for a task skipped by a condition: the caller reports those.)
"""

from __future__ import annotations

import collections
import io
import re
import time
from typing import TextIO

from components.progress import PREFIX

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_START = re.compile(r"Executing task '?([\w.-]+)'?")
_END = re.compile(r"Task '?([\w.-]+)'? finished with status (\w+)")


class ProgressStream(io.TextIOBase):
    """A write-only text stream: full copy to ``log``, short progress lines to ``out``."""

    def __init__(self, log: TextIO, out: TextIO, steps_dir: str | None = None):
        """Copy everything to ``log``; print progress lines to ``out``; with ``steps_dir``, also
        each task's own output to ``<steps_dir>/<task>.log`` (see :class:`StepLogs`)."""
        super().__init__()
        self.log = log
        self.out = out
        self.step_logs = StepLogs(steps_dir) if steps_dir else None
        self.started = time.monotonic()
        self.task_started: dict[str, float] = {}
        self.status: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.tails: dict[str, collections.deque[str]] = {}
        self.attempts: dict[str, int] = {}
        self.current: str | None = None
        self._partial = ""
        self._live = False  # a progress line is open (terminal only)
        self.tty = bool(getattr(out, "isatty", lambda: False)())

    def writable(self) -> bool:
        """Always True: this is an output stream."""
        return True

    def write(self, text: str) -> int:
        """Copy ``text`` to the log; react to every complete line. Returns ``len(text)``."""
        self.log.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        """Flush the log and the progress output."""
        self.log.flush()
        self.out.flush()

    def close(self) -> None:
        """Close the per-step logs (the run's log and the output belong to the caller)."""
        if self.step_logs is not None:
            self.step_logs.close()
        super().close()

    def elapsed(self) -> str:
        """Time since the run started as ``MM:SS``."""
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def say(self, message: str) -> None:
        """Print ``[MM:SS] message`` to the progress output."""
        if self._live:
            self.out.write("\n")
            self._live = False
        self.out.write(f"[{self.elapsed()}] {message}\n")
        self.out.flush()

    def live(self, message: str) -> None:
        """A progress report: rewrites the open line on a terminal, else a line of its own."""
        if not self.tty:
            self.say(message)
            return
        self.out.write(f"\r[{self.elapsed()}] {message}\x1b[K")
        self.out.flush()
        self._live = True

    def _line(self, line: str) -> None:
        if m := _START.search(line):
            name = m.group(1)
            self.current = name
            self.task_started[name] = time.monotonic()
            self.tails[name] = collections.deque(maxlen=40)
            self.status[name] = "RUNNING"
            self.attempts[name] = self.attempts.get(name, 0) + 1
            attempt = self.attempts[name]
            # kfp.local starts a failed task again when its retry policy allows
            self.say(f"{name}: running" + (f" (attempt {attempt})" if attempt > 1 else ""))
        elif m := _END.search(line):
            name, status = m.group(1), m.group(2)
            self.status[name] = status
            self.seconds[name] = time.monotonic() - self.task_started.get(name, self.started)
            self.say(f"{name}: {status} ({self.seconds[name]:.0f} s)")
            self.current = None
        elif self.current is not None:
            self.tails[self.current].append(line)
            if self.step_logs is not None:
                self.step_logs.write(self.current, line)
            report = line.strip()
            if report.startswith(PREFIX):
                self.live(f"{self.current}: {report[len(PREFIX) :]}")

    def failed_tasks(self) -> list[str]:
        """Names of the tasks that finished with a status other than SUCCESS."""
        return [n for n, s in self.status.items() if s not in ("SUCCESS", "RUNNING")]


_EXECUTOR_JSON_START = re.compile(r"Got executor_input:\s*$")
_INDENT = "    "  # kfp.local indents a task's streamed output by 4 spaces


class StepLogs:
    """One plain log per task: its output without ANSI codes and without the executor's JSON.

    kfp.local streams a task's output indented, and its executor prints the whole executor
    input as a JSON block after ``Got executor_input:``; that block (up to the ``}`` at the
    stream's indentation) is left out, everything else is kept, unindented.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files: dict[str, TextIO] = {}
        self.skipping: dict[str, bool] = {}

    def path(self, task: str) -> str:
        """The log file of ``task``."""
        import os

        return os.path.join(self.directory, f"{task}.log")

    def write(self, task: str, line: str) -> None:
        """Append one (ANSI-free) output line of ``task``."""
        if self.skipping.get(task):
            if line == _INDENT + "}":
                self.skipping[task] = False
            return
        if _EXECUTOR_JSON_START.search(line):
            self.skipping[task] = True
            return
        if task not in self.files:
            import os

            os.makedirs(self.directory, exist_ok=True)
            self.files[task] = open(self.path(task), "a", encoding="utf-8")  # noqa: SIM115
        text = line[len(_INDENT) :] if line.startswith(_INDENT) else line
        self.files[task].write(text + "\n")
        self.files[task].flush()

    def close(self) -> None:
        """Close every task's file."""
        for f in self.files.values():
            f.close()
        self.files.clear()
