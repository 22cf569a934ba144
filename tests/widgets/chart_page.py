"""The live chart's ES module in a bare Chromium page, with a stand-in for the widget model.

Cheaper than JupyterLab (no server, no kernel) and the same drawing code: the module's
``render`` gets a model with ``get``/``on``/``off``/``send`` and the points arrive as the kernel
sends them (a ``history`` message). :func:`open_chart` returns the page with the chart drawn.
"""
from __future__ import annotations

import json
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "llm_magic" / "widgets" / "static"

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>%(css)s</style></head>
<body style="margin:8px;background:#fff"><div id="out" style="width:%(width)dpx"></div>
<script type="module">
const source = %(module)s;
const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
const chart = (await import(url)).default;
const state = %(state)s;
const handlers = {};
const model = {
  model_id: "test",
  get: (name) => state[name],
  set: (name, value) => { state[name] = value; },
  on: (event, fn) => { (handlers[event] = handlers[event] || []).push(fn); },
  off: () => {},
  send: (msg) => { (window.__sent = window.__sent || []).push(msg); },
  save_changes: () => {},
};
chart.initialize({model});
chart.render({model, el: document.getElementById("out")});
for (const fn of handlers["msg:custom"] || []) fn({k: "history", t: Date.now(), d: %(points)s});
window.__ready = true;
</script></body></html>"""


def open_chart(browser, points: dict, state: dict, width: int = 980):
    """A new page showing the chart of ``points`` (``{series: [[step, value], ...]}``) at ``width`` px."""
    page = browser.new_page(viewport={"width": width + 40, "height": 560})
    html = _PAGE % {
        "css": (STATIC / "loss_chart.css").read_text(encoding="utf-8"),
        "module": json.dumps((STATIC / "loss_chart.js").read_text(encoding="utf-8")),
        "state": json.dumps({"max_steps": 0, "best_step": -1, "status": "running", "status_line": "",
                             "samples": {}, "foreground": False, **state}),
        "points": json.dumps(points),
        "width": width,
    }
    page.set_content(html)
    page.wait_for_function("() => window.__ready === true", timeout=30_000)
    page.wait_for_function("() => Number(document.querySelector('.llm-chart svg').dataset.points) > 0",
                           timeout=30_000)
    return page
