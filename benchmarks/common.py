"""Shared pieces of the benchmarks: repeated timing, result rows, the environment summary."""
from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable


@dataclass
class Result:
    """One benchmark line: what was measured, against which baseline, and the verdict."""

    name: str
    measured: float
    baseline: float | None
    unit: str
    target: str
    ok: bool | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """measured / baseline, when there is a baseline."""
        if not self.baseline:
            return None
        return self.measured / self.baseline

    def as_dict(self) -> dict:
        """A JSON-ready dict including the ratio."""
        return {**asdict(self), "ratio": self.ratio}


def median_time(func: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of ``func()`` over ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_subprocess(code: str, repeats: int = 5) -> float:
    """Median wall time of a fresh ``python -c code`` process, in seconds."""
    return median_time(lambda: subprocess.run([sys.executable, "-c", code], check=True), repeats)


def environment() -> dict:
    """Hardware and package versions, printed with every benchmark run."""
    import importlib.metadata as md

    versions = {}
    for package in ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "ipython"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": versions,
    }
