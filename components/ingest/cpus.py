"""How many cores this process may use: its CPU affinity, capped by a cgroup CPU quota.

In a Kubernetes pod ``os.sched_getaffinity`` lists every core of the node, while the container's
CPU limit is a cgroup quota; sizing workers and threads by the node would oversubscribe the
limit many times over.
"""

from __future__ import annotations

import math
import os

_CGROUP_V2 = "/sys/fs/cgroup/cpu.max"
_CGROUP_V1 = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_quota(v2: str = _CGROUP_V2, v1: tuple[str, str] = _CGROUP_V1) -> float | None:
    """Return the cgroup CPU quota in cores (e.g. 2.5), or None when there is no (readable) limit."""
    try:
        text = _read(v2)
        if text is not None:
            quota, _, period = text.partition(" ")
            if quota != "max" and period and int(period) > 0:
                return int(quota) / int(period)
            return None
        quota, period = _read(v1[0]), _read(v1[1])
        if quota and period and int(quota) > 0 and int(period) > 0:
            return int(quota) / int(period)
    except ValueError:  # a malformed file: no limit we can use
        return None
    return None


def usable_cpus() -> int:
    """Return the cores this process may use (at least 1)."""
    affinity = getattr(os, "sched_getaffinity", None)  # not on macOS
    cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    quota = cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)
