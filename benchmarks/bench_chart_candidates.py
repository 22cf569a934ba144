"""Chart libraries for the live loss chart: import time and kernel cost of appending points.

The measurement behind the choice in ``llm_magic/widgets/loss_chart.py``. For each candidate
that is installed (plotly and bqplot are not dependencies: ``pip install plotly bqplot`` to
compare), in a fresh process: the import (after ipywidgets, which the notebook already has), and
600 one-step updates of a 2-series chart, each widget message JSON-encoded and HMAC-signed as
ipykernel sends it. Ours sends only the new point; plotly's ``FigureWidget`` and bqplot's
``Lines`` resend their whole arrays on every change.
"""
from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.common import Result

_HARNESS = r"""
import hashlib, hmac, json, sys, time
import ipywidgets, comm, ipywidgets.comm
sent = [0, 0]
class C(comm.base_comm.BaseComm):
    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        body = json.dumps(data, default=str).encode()
        hmac.new(b"k" * 32, body, hashlib.sha256).hexdigest()
        sent[0] += 1; sent[1] += len(body) + sum(len(b) for b in (buffers or []))
ipywidgets.comm.create_comm = lambda *a, **k: C(*a, **k)
t = time.perf_counter()
"""

_CANDIDATES = {
    "anywidget + our ES module": (
        "from llm_magic.widgets.loss_chart import chart_widget\n"
        "obj = chart_widget(None, dict)\n",
        "obj.send({'k': 'points', 't': 0, 'd': {'loss': [[s, 1.0 / s]], 'learning_rate': [[s, 1e-3]]}})\n"),
    "plotly FigureWidget": (
        "import plotly.graph_objects as go\n"
        "obj = go.FigureWidget(); obj.add_scatter(x=[], y=[]); obj.add_scatter(x=[], y=[])\n",
        "with obj.batch_update():\n"
        "    obj.data[0].x = obj.data[0].x + (s,); obj.data[0].y = obj.data[0].y + (1.0 / s,)\n"
        "    obj.data[1].x = obj.data[1].x + (s,); obj.data[1].y = obj.data[1].y + (1e-3,)\n"),
    "bqplot Lines": (
        "import bqplot, numpy as np\n"
        "scales = {'x': bqplot.LinearScale(), 'y': bqplot.LinearScale()}\n"
        "line = bqplot.Lines(x=np.zeros(0), y=np.zeros(0), scales=scales); fig = bqplot.Figure(marks=[line])\n"
        "xs, ys = [], []\n",
        "xs.append(s); ys.append(1.0 / s)\n"
        "with line.hold_sync():\n"
        "    line.x = np.array(xs); line.y = np.array(ys)\n"),
}


def _measure(setup: str, update: str) -> dict | None:
    body = "\n".join("    " + line for line in update.splitlines())
    code = (_HARNESS + setup + "ready = time.perf_counter() - t\nsent[:] = [0, 0]\nt = time.perf_counter()\n"
            "for s in range(1, 601):\n" + body + "\n"
            "print(json.dumps({'ready': ready, 'updates': time.perf_counter() - t, 'messages': sent[0], 'bytes': sent[1]}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> list[Result]:
    """One row per installed candidate: microseconds per appended step, with import time and bytes."""
    rows = []
    for name, (setup, update) in _CANDIDATES.items():
        measured = _measure(setup, update)
        if measured is None:
            rows.append(Result(f"chart candidate: {name}", 0.0, None, "us/step", "informs the choice", None,
                               "not installed (or failed): not measured"))
            continue
        rows.append(Result(f"chart candidate: {name}", measured["updates"] / 600 * 1e6, None, "us/step",
                           "informs the choice", None,
                           f"import + create {measured['ready']:.2f} s; 600 steps sent {measured['messages']} "
                           f"messages, {measured['bytes'] / 1e6:.2f} MB"))
    return rows
