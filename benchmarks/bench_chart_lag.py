"""Live loss chart lag in JupyterLab: how far the drawn chart is behind the training step.

Runs the notebook of ``tests/notebooks/test_browser_chart.py`` (a real ``%llm_train`` of the
embedded model in JupyterLab, in headless Chromium): for every drawing, the page compares its
clock with the kernel's time of the oldest point drawn (both on this machine), and records the
gaps between visible changes of the chart. Needs Chromium at /usr/bin/chromium, playwright and
jupyterlab (else the rows say so).
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.common import Result


def run(quick: bool = False) -> list[Result]:
    """The largest lag (target <= 2 s) and the longest time the chart stood still."""
    from tests.notebooks.test_browser import CHROMIUM

    if not CHROMIUM.exists():
        return [Result("live chart lag in JupyterLab", 0.0, None, "s", "<= 2 s", None,
                       f"not measured: no Chromium at {CHROMIUM}")]
    from tests.notebooks.test_browser_chart import gaps, run_live_chart

    seconds = 20 if quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        result = run_live_chart(Path(tmp), artifacts=Path(tmp) / "shots", seconds=seconds)
    drawn = [c for c in result["changes"] if c["step"] > 0]
    lags = sorted(c["lag"] / 1000 for c in drawn if c["lag"] >= 0)
    still = max(gaps(result), default=0.0)
    note = (f"{len(drawn)} drawings over {seconds} s of training, {drawn[-1]['step'] if drawn else 0} steps; "
            f"median lag {statistics.median(lags) if lags else 0:.3f} s")
    return [
        Result("live chart lag behind the step, JupyterLab (max)", lags[-1] if lags else 0.0, None, "s",
               "<= 2 s", bool(lags) and lags[-1] <= 2.0, note),
        Result("longest time the live chart stood still", still, None, "s", "<= 2 s", still <= 2.0,
               "between visible changes, first point to last step"),
    ]
