"""How many CPU threads torch may use: never more than the cores this process may run on.

torch (OpenMP) starts one thread per core of the machine, but a process may be allowed fewer:
a CPU affinity mask (``taskset``, a job scheduler) or a container's CPU quota (cgroup
``cpu.max`` / ``cpu.cfs_quota_us``). More threads than usable cores make OpenMP's threads wait at
every barrier for a sibling the kernel has descheduled: on a busy 2-core machine two threads ran
3-10x slower than one (docs/benchmarks.md). :func:`limit_threads` lowers torch's thread count to
:func:`usable_cores`, and never raises a count the user chose.

Cores the process may use are not cores it gets: beside another CPU-bound process on 2 cores,
``%llm_predict`` on 2 threads ran at 0.14-0.20x of 1 thread. :func:`fit_threads_to_load` (called
as a prediction, an evaluation or a training run starts, and again every few seconds while it
runs) sets torch's count to the usable cores minus those other processes kept busy lately
(``/proc/stat`` against this process's own CPU time in ``/proc/self/stat``). It never touches a
count the user chose (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set, or ``torch.set_num_threads``
called by them). Matrix products and small reductions give the same bits on any thread count,
but torch splits a reduction over more than 32k elements into one partial sum per thread, so a
run on a loaded machine can differ from an idle one in the last bits (a 10M-element sum here:
3e-7 relative); for bit-exact reruns fix the count (``OMP_NUM_THREADS=1``, as the
reproducibility tests do).
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["CpuSample", "busy_elsewhere", "cgroup_cpu_limit", "fit_threads_to_load", "limit_threads",
           "read_cpu_sample", "usable_cores"]

_CGROUP = Path("/sys/fs/cgroup")
_MEMBERSHIP = Path("/proc/self/cgroup")
_PROC_STAT = Path("/proc/stat")
_SELF_STAT = Path("/proc/self/stat")
#: Environment variables by which a user fixes the math libraries' thread count themselves.
USER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


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
    """Lower torch's intra-op thread count to :func:`usable_cores` if above; return the count.

    Also notes the machine's CPU counters, so that a command in the next few seconds can fit
    its threads to the load without waiting for a measurement (:func:`fit_threads_to_load`).
    """
    cores = usable_cores(root)
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
    _tracker.note()
    return torch.get_num_threads()


# --------------------------------------------------------------------------- load-aware count
@dataclass(frozen=True)
class CpuSample:
    """CPU time counters at one moment (clock ticks): the machine's busy and total time on the
    cores this process may use, and this process's own time (all its threads)."""

    at: float
    busy: int
    total: int
    own: int
    cores: int


def read_cpu_sample(proc_stat: Path = _PROC_STAT, self_stat: Path = _SELF_STAT,
                    cpus: set[int] | None = None) -> CpuSample | None:
    """The counters now, or None where ``/proc`` cannot tell (not Linux)."""
    try:
        lines = proc_stat.read_text().splitlines()
        # /proc/self/stat: the command may hold spaces and parentheses; fields follow the last ")".
        fields = self_stat.read_text().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)
    except (OSError, IndexError, ValueError):
        return None
    if cpus is None:
        try:
            cpus = set(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = None
    busy = total = cores = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            index = int(name[3:])
            ticks = [int(v) for v in rest.split()]
        except ValueError:
            continue
        if cpus is not None and index not in cpus:
            continue
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        counted = sum(ticks[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
        busy += counted - idle
        total += counted
        cores += 1
    if not cores:
        return None
    return CpuSample(time.monotonic(), busy, total, own, cores)


def busy_elsewhere(before: CpuSample, after: CpuSample) -> float:
    """Cores that other processes kept busy between two samples (0 .. cores)."""
    total = after.total - before.total
    if total <= 0:
        return 0.0
    others = (after.busy - before.busy) - (after.own - before.own)
    return min(float(after.cores), max(0.0, others / (total / after.cores)))


class _LoadTracker:
    """The last sample and the count last set, shared by every caller in the process."""

    #: A sample this old or younger is compared with instead of waiting for a fresh one; an
    #: older one describes the past (the minutes a notebook sat idle), so a fresh window is taken.
    STALE_S = 5.0
    #: The shortest window worth comparing: clock ticks are 10 ms, so 5 ticks per core; one tick
    #: of error is 0.2 of a core, under the 0.5 that would change the rounded count.
    MIN_WINDOW_S = 0.05
    #: How long a fresh measurement waits (paid at most once per command, and not at all when a
    #: command ran in the last few seconds).
    WINDOW_S = 0.05

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: CpuSample | None = None
        self.set_count: int | None = None  # the count this module last set
        self.initial = torch.get_num_threads()

    def user_chose(self) -> bool:
        if any(os.environ.get(name) for name in USER_THREAD_VARIABLES):
            return True
        current = torch.get_num_threads()
        return current not in (self.initial, self.set_count) and not (
            self.set_count is None and current == usable_cores())

    def note(self) -> None:
        """Keep the counters now as the start of the next window."""
        with self.lock:
            self.last = read_cpu_sample() or self.last

    def measure(self, wait: bool) -> float | None:
        """Cores busy elsewhere, over the window since the last sample (or a fresh one)."""
        now = read_cpu_sample()
        if now is None:
            return None
        last = self.last
        if last is None or now.at - last.at > self.STALE_S:
            if not wait:
                self.last = now
                return None
            last = now  # a fresh window
            time.sleep(self.WINDOW_S)
        elif now.at - last.at < self.MIN_WINDOW_S:
            if not wait:
                return None  # too short to tell; keep the count
            time.sleep(self.MIN_WINDOW_S - (now.at - last.at))
        else:
            self.last = now
            return busy_elsewhere(last, now)
        now = read_cpu_sample()
        if now is None:
            return None
        self.last = now
        return busy_elsewhere(last, now)


_tracker = _LoadTracker()


def fit_threads_to_load(wait: bool = True) -> int:
    """Set torch's thread count for the calling thread to the free usable cores; return it.

    Free: :func:`usable_cores` minus the cores other processes kept busy since the last call
    (rounded; at least 1). ``wait`` lets a first call measure for 0.05 s when it has no recent
    sample; re-checks during a run pass False and compare with the previous call instead. A
    count the user chose is kept (see the module docstring).
    """
    with _tracker.lock:
        if _tracker.user_chose():
            return torch.get_num_threads()
        others = _tracker.measure(wait)
        if others is None:
            return torch.get_num_threads()
        cores = usable_cores()
        count = max(1, min(cores, math.floor(cores - others + 0.5)))
        if count != torch.get_num_threads():
            torch.set_num_threads(count)
        _tracker.set_count = count
        return count
