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

import torch

__all__ = ["cgroup_cpu_limit", "limit_threads", "usable_cores"]

_CGROUP = Path("/sys/fs/cgroup")
_MEMBERSHIP = Path("/proc/self/cgroup")


def _own_paths(membership: Path) -> tuple[str, str]:
    """This process's cgroup path under the v2 hierarchy and under v1's ``cpu`` controller."""
    v2 = v1 = "/"
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2] or "/"
        elif "cpu" in parts[1].split(","):
            v1 = parts[2] or "/"
    return v2, v1


def _up_to_root(base: Path, path: str) -> list[Path]:
    """``base/path`` and each folder above it up to ``base``: a quota set on a parent holds too."""
    folder = base / path.strip("/")
    folders = [folder]
    while folder != base and base in folder.parents:
        folder = folder.parent
        folders.append(folder)
    return folders


def _v2_quota(folder: Path) -> int | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]  # "<quota> <period>" or "max <period>"
        return max(1, math.ceil(int(quota) / int(period))) if quota != "max" else None
    except (OSError, ValueError):
        return None


def _v1_quota(folder: Path) -> int | None:
    try:  # quota -1 means none
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
        return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def cgroup_cpu_limit(root: Path = _CGROUP, membership: Path = _MEMBERSHIP) -> int | None:
    """Cores allowed by the cgroup CPU quota (rounded up), or None when there is no quota.

    The quota is read in this process's own cgroup (``/proc/self/cgroup``) and in every cgroup
    above it, the smallest winning: outside a container the process sits deep in the hierarchy
    (``/sys/fs/cgroup/user.slice/...``), and a limit may be set on any level. cgroup v2's
    ``cpu.max`` first, then v1's ``cpu.cfs_quota_us`` under the ``cpu`` controller.
    """
    v2, v1 = _own_paths(membership)
    found = [q for q in map(_v2_quota, _up_to_root(root, v2)) if q is not None]
    if not found:
        for base in (root / "cpu", root / "cpu,cpuacct"):
            found += [q for q in map(_v1_quota, _up_to_root(base, v1)) if q is not None]
    return min(found) if found else None


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
    cores = usable_cores(root)
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
    return torch.get_num_threads()
