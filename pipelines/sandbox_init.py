"""Inside a new mount and network namespace: build what a pod sees, then start the task.

``python -m pipelines.sandbox_init PLAN.json COMMAND [ARGS...]`` is started by
``pipelines.isolated`` under ``unshare --mount --net`` (plus ``--user --map-root-user`` when not
root). The plan (JSON) says:

- ``keep``: ``[{"src": host path, "dst": path in the pod}]``, bound in the pod: the task's own
  output folder, the copies of its inputs, each volume's local folder at its mount path;
- ``hide``: host folders covered by an empty tmpfs (the pipeline root with every other task's
  artifacts, the local folders of all volumes), and ``/tmp`` gets a private tmpfs;
- ``image``: folders bound again at their own paths because they hold the interpreter or the
  code (what the image holds on a cluster) but lie under ``/tmp`` or a hidden folder;
- ``home``: the private home folder created in the pod's ``/tmp``.

Sources are opened before anything is covered and bound through ``/proc/self/fd``, so a source
that lies under a hidden folder (or under ``/tmp``) is still reachable. The loopback interface
is brought up (the network namespace has nothing else). Then ``COMMAND`` replaces this process
with the environment it was given. Any failure prints one ``error:`` line and exits with 2.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import socket
import struct
import sys

MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
O_PATH = getattr(os, "O_PATH", 0o10000000)
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None):
    def b(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if _libc.mount(b(source), b(target), b(fstype), flags, b(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source or fstype} on {target}: {os.strerror(err)}")


def loopback_up() -> None:
    """Bring ``lo`` up (what a pod's network namespace has besides its own interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def apply(plan: dict) -> None:
    """Make the mounts of ``plan`` in this (new) mount namespace."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing leaks back to the host
    image = [(os.open(p, O_PATH), p) for p in plan.get("image", [])]
    kept = [(os.open(k["src"], O_PATH), k["dst"], os.path.isdir(k["src"])) for k in plan["keep"]]
    hide = plan.get("hide", [])
    for path in hide:
        _mount("nasdet-hidden", path, "tmpfs", 0, "mode=0755")
    _mount("nasdet-tmp", "/tmp", "tmpfs", 0, "mode=1777")
    for fd, path in image:  # the code and interpreter, when they lie under /tmp or a hidden folder
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND, None)
        os.close(fd)
    for path in hide:  # hidden again where an image path brought it back
        if any(_inside(path, p) and path != p for _, p in image):
            _mount("nasdet-hidden", path, "tmpfs", 0, "mode=0755")
    for fd, dst, is_dir in kept:
        if is_dir:
            os.makedirs(dst, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            open(dst, "a").close()
        # Not recursive: a recursive bind would take along the tmpfs that now hides ``src``.
        _mount(f"/proc/self/fd/{fd}", dst, None, MS_BIND, None)
        os.close(fd)
    os.makedirs(plan["home"], exist_ok=True)
    loopback_up()


def main(argv: list[str]) -> int:
    """Apply the plan file ``argv[0]``, then exec ``argv[1:]``; 2 with one line on failure."""
    if len(argv) < 2:
        sys.stderr.write("error: usage: python -m pipelines.sandbox_init PLAN.json COMMAND...\n")
        return 2
    try:
        with open(argv[0], encoding="utf-8") as f:
            plan = json.load(f)
        apply(plan)
        os.execvp(argv[1], argv[1:])
    except (OSError, ValueError, KeyError) as err:
        sys.stderr.write(f"error: isolation: {err}\n")
        return 2
    return 0  # not reached: exec replaced the process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
