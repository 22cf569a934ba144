"""How many CPU threads torch may use: never more than the cores this process may run on.

torch (OpenMP) starts one thread per core of the machine, but a process may be allowed fewer:
a CPU affinity mask (``taskset``, a job scheduler) or a container's CPU quota (cgroup
``cpu.max`` / ``cpu.cfs_quota_us``). More threads than usable cores make OpenMP's threads wait at
every barrier for a sibling the kernel has descheduled: on a busy 2-core machine two threads ran
3-10x slower than one (docs/benchmarks.md). :func:`limit_threads` lowers torch's thread count to
:func:`usable_cores`, and never raises a count the user chose.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["cgroup_cpu_limit", "limit_threads", "usable_cores"]

_CGROUP = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = _CGROUP) -> int | None:
    """Cores allowed by the cgroup CPU quota (rounded up), or None when there is no quota."""
    try:
        # cgroup v2: "<quota> <period>" or "max <period>".
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: quota -1 means none.
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores(root: Path = _CGROUP) -> int:
    """Cores this process may use: its affinity mask, capped by the cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root)
    return max(1, min(cores, quota) if quota else cores)


def limit_threads(root: Path = _CGROUP) -> int:
    """Lower torch's intra-op thread count to :func:`usable_cores` if above; return the count."""
    import torch  # the caller is about to run torch work anyway

    cores = usable_cores(root)
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
    return torch.get_num_threads()
