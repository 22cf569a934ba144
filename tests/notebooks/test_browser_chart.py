"""The live loss chart in a real browser: JupyterLab on 127.0.0.1, driven by headless Chromium.

A notebook trains the embedded model (a real ``%llm_train``, foreground, as a user runs it); a
minute after the chart drew its first point the test interrupts the kernel, which stops the run
after its current step, as a user stops it. While it runs, the page records every visible change of the chart (new points,
status line) and how far each drawing lagged behind the kernel's log; the test checks that the
chart changed at least every 2 s from its first point to the end of training, and screenshots it
every few seconds into ``test-artifacts/browser/chart-*.png``. Then the notebook is saved and
reopened with a new kernel and no widget state: the chart's output must show its static
picture (no "Error displaying widget"), and ``nbconvert --to html`` must carry it as an
``<img>``. The timings go to ``test-artifacts/browser/chart-timing.json`` (for
``benchmarks/bench_chart_lag.py``, which runs the same notebook).

Needs what ``tests/notebooks/test_browser.py`` needs (its helpers are reused here).
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.notebooks.refresh_outputs import KERNEL_ENV, ROOT
from tests.notebooks.test_browser import (
    ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, KERNEL_IDLE, _free_port, _start_kernel_session, _wait_for_server,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

# More steps than a minute allows on any machine (0.08-0.5 s each on 2 cores): the test stops the
# run. An epoch is ~105 steps of 4 rows; a validation every 50 steps on 8 rows takes ~1 s.
CONFIG = """%%llm_config
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: instruction, type: text}]
output_features: [{name: output, type: text}]
prompt:
  template: "### Instruction:\\n{instruction}\\n\\n### Response:\\n"
adapter: {type: lora, r: 8}
trainer: {type: finetune, train_steps: 5000, batch_size: 4, learning_rate: 0.001, steps_per_checkpoint: 50}
preprocessing: {split: {type: fixed, column: split}}
generation: {max_new_tokens: 4, do_sample: false}"""

CELLS = [
    "%load_ext llm_magic",
    "import pandas as pd\nanimals = pd.read_csv('animals.csv')\n"
    "df = pd.concat([animals[animals.split == 0], animals[animals.split == 1].head(8), "
    "animals[animals.split == 2].head(8)])",
    CONFIG,
    "%llm_train --data df",
]
TRAIN = 3

# Installed in the page before the cells run: a timestamp for each visible change of the chart
# (what it draws: the number of points, the status line), with the lag the view measured.
WATCH_CHART = """() => {
  window.__chart = {changes: [], lags: [], final: null};
  let last = '';
  const look = () => {
    const chart = document.querySelector('.jp-OutputArea .llm-chart');
    if (chart) {
      const svg = chart.querySelector('svg');
      const status = chart.querySelector('.llm-chart-status');
      const signature = [svg && svg.dataset.points, svg && svg.dataset.lastStep, status && status.textContent].join('|');
      if (signature !== last) {
        last = signature;
        window.__chart.changes.push({t: Date.now(), step: Number(svg && svg.dataset.lastStep || 0),
                                     points: Number(svg && svg.dataset.points || 0),
                                     lag: Number(chart.dataset.lastLagMs || -1)});
      }
    } else if (last && !window.__chart.final) {
      window.__chart.final = Date.now();  // the live chart was replaced by its static picture
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                     characterData: true});
}"""


@contextmanager
def lab_server(tmp_path: Path, cells: list[str], name: str = "chart.ipynb"):
    """A JupyterLab server (no token) on a free port, serving a folder with the notebook of ``cells``."""
    pytest.importorskip("jupyterlab")
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "examples" / "data" / "animals.csv", root / "animals.csv")
    notebook = new_notebook(cells=[new_code_cell(source) for source in cells],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}})
    nbformat.write(notebook, root / name)
    labconfig = tmp_path / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port = _free_port()
    env = {**os.environ, **KERNEL_ENV, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("LLM_MAGIC_FRONTEND", None)
    log_path = tmp_path / "jupyter.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", "--ServerApp.allow_root=True", "--ServerApp.disable_check_xsrf=True",
             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
             f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
             f"--LabApp.user_settings_dir={tmp_path / 'settings'}"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for_server(url, process, log_path)
            _start_kernel_session(url, name)
            yield url, root / name
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _open(page, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)


def _delete_sessions(url: str) -> None:
    """Shut the notebook's kernel down, as closing it would: its widget models are gone."""
    with urllib.request.urlopen(f"{url}/api/sessions", timeout=30) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{url}/api/sessions/{session['id']}", method="DELETE")
        urllib.request.urlopen(request, timeout=60).close()


RUN_SECONDS = 60


def run_live_chart(tmp_path: Path, artifacts: Path = ARTIFACTS, seconds: float = RUN_SECONDS) -> dict:
    """Run the chart notebook in JupyterLab; return what the page saw (see the module docstring).

    Keys: ``changes`` (page time in ms, last step, points, lag in ms of each visible change),
    ``first_point`` / ``end`` (ms: the first drawn point, the last step drawn), ``final`` (ms:
    the static picture replaced the chart), ``saved`` (the saved notebook), ``reopened_text``
    and ``reopened_images`` (the chart cell's output after reopening), ``url``.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("chart-*.png"):
        old.unlink()
    with lab_server(tmp_path, CELLS) as (url, notebook_path), sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        try:
            _open(page, url, notebook_path.name)
            page.evaluate(WATCH_CHART)
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            cell = page.locator(".jp-Notebook .jp-CodeCell").nth(TRAIN)
            deadline, shots, last_shot = time.monotonic() + 600, 0, 0.0
            first_point, interrupted, controls = None, False, None
            while time.monotonic() < deadline:
                prompt = cell.locator(".jp-InputPrompt").inner_text()
                if any(ch.isdigit() for ch in prompt):
                    break
                if first_point is None and page.evaluate("() => window.__chart.changes.some(c => c.step > 0)"):
                    first_point = time.monotonic()
                if first_point is not None and not interrupted and time.monotonic() - first_point >= seconds:
                    page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
                    interrupted = True
                chart = cell.locator(".llm-chart")
                if controls is None and first_point is not None and time.monotonic() - first_point >= seconds / 2:
                    controls = _use_controls(page, chart, artifacts)
                if chart.count() and time.monotonic() - last_shot >= 6:
                    chart.screenshot(path=str(artifacts / f"chart-live-{shots:02d}.png"))
                    shots, last_shot = shots + 1, time.monotonic()
                page.wait_for_timeout(250)
            else:
                raise TimeoutError("the training cell did not finish within 600 s")
            seen = page.evaluate("() => window.__chart")
            text = cell.locator(".jp-OutputArea").inner_text()
            assert "Traceback" not in text and "UsageError" not in text, text
            cell.screenshot(path=str(artifacts / "chart-final.png"))
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
                                   timeout=60_000)
        finally:
            page.screenshot(path=str(artifacts / "chart-notebook.png"))
            page.close()
        saved = nbformat.read(notebook_path, as_version=4)

        # Reopened: a new page and a new kernel, no widget state anywhere.
        _delete_sessions(url)
        _start_kernel_session(url, notebook_path.name)
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        try:
            _open(page, url, notebook_path.name)
            cell = page.locator(".jp-Notebook .jp-CodeCell").nth(TRAIN)
            page.wait_for_timeout(2000)  # let the widget manager give up on unknown models
            outputs = cell.locator(".jp-OutputArea-output")
            chart_outputs = [outputs.nth(i) for i in range(outputs.count())
                             if outputs.nth(i).get_attribute("data-mime-type") == "image/svg+xml"]
            reopened_images = sum(o.locator("img").count() for o in chart_outputs)
            reopened_text = " ".join(o.inner_text() for o in chart_outputs)
            if chart_outputs:
                chart_outputs[0].screenshot(path=str(artifacts / "chart-reopened.png"))
        finally:
            page.close()
            browser.close()
    changes = seen["changes"]
    drawn = [c for c in changes if c["step"] > 0]
    return {"changes": changes, "first_point": drawn[0]["t"] if drawn else None,
            "end": max((c["t"] for c in drawn), default=None), "final": seen["final"], "saved": saved,
            "reopened_images": reopened_images, "reopened_text": reopened_text, "url": url,
            "screenshots": shots, "notebook_path": notebook_path, "controls": controls}


def _use_controls(page, chart, artifacts: Path) -> dict:
    """Hover, log scale and a drag to zoom on the live chart, as a user would: what each showed."""
    svg = chart.locator("svg.llm-chart-svg")
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    y = box["y"] + 120
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    tooltip = chart.locator(".llm-chart-tooltip")
    tooltip.wait_for(state="visible", timeout=10_000)
    hover = tooltip.inner_text()
    chart.screenshot(path=str(artifacts / "chart-hover.png"))
    chart.locator("input[type=checkbox]").check()
    page.wait_for_timeout(500)
    log_axis = "loss (log)" in svg.text_content()
    full = svg.get_attribute("data-x-range")
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    page.wait_for_timeout(500)
    zoomed = svg.get_attribute("data-x-range")
    chart.screenshot(path=str(artifacts / "chart-zoom-log.png"))
    chart.locator("button", has_text="reset zoom").click()
    chart.locator("input[type=checkbox]").uncheck()
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)
    return {"hover": hover, "log_axis": log_axis, "full": full, "zoomed": zoomed,
            "reset": svg.get_attribute("data-x-range"), "linear_again": "loss (log)" not in svg.text_content()}


def gaps(result: dict) -> list[float]:
    """Seconds between consecutive visible changes, from the first point to the last step drawn."""
    times = [c["t"] for c in result["changes"] if result["first_point"] <= c["t"] <= result["end"]]
    return [(b - a) / 1000 for a, b in zip(times, times[1:])]


def test_the_chart_follows_training_live_and_survives_a_saved_notebook(tmp_path):
    result = run_live_chart(tmp_path)
    changes = [c for c in result["changes"] if c["step"] > 0]
    assert changes, "the chart never drew a point"
    duration = (result["end"] - result["first_point"]) / 1000
    between = gaps(result)
    lags = [c["lag"] for c in changes if c["lag"] >= 0]
    (ARTIFACTS / "chart-timing.json").write_text(json.dumps(
        {"training_seconds_seen": duration, "changes": len(changes), "max_gap_s": max(between, default=None),
         "lags_ms": lags, "steps": changes[-1]["step"]}, indent=1))
    assert duration >= RUN_SECONDS - 5, f"only {duration:.0f} s of training seen"
    assert max(between) <= 2.0, f"the chart stood still for {max(between):.1f} s (gaps {sorted(between)[-5:]})"
    assert result["final"] is not None, "the live chart was never replaced by its static picture"
    assert result["screenshots"] >= 3

    # The controls did what they say, mid-run.
    controls = result["controls"]
    assert re.match(r"step \d+, epoch [\d.]+\nloss [\d.]+ \(smoothed [\d.]+\)", controls["hover"]), controls
    assert controls["log_axis"] and controls["linear_again"], controls
    full_from, full_to = map(int, controls["full"].split("-"))
    zoom_from, zoom_to = map(int, controls["zoomed"].split("-"))
    assert full_from == 0 and full_from < zoom_from < zoom_to < full_to, controls
    assert controls["reset"].startswith("0-"), controls

    # The saved notebook: the chart's output is the SVG and the summary, no widget reference.
    train = result["saved"].cells[TRAIN]
    pictures = [o for o in train.outputs if "image/svg+xml" in o.get("data", {})]
    assert len(pictures) == 1, [list(o.get("data", {})) for o in train.outputs]
    data = pictures[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data
    summary = data["text/plain"]
    assert re.match(r"stopped: \d+/5000 steps in 1:0\d · final loss ", summary), summary
    assert "best validation loss" in summary and "tokens/s" in summary

    # Reopened with a new kernel: the picture, not "Error displaying widget".
    assert result["reopened_images"] == 1 and "Error displaying widget" not in result["reopened_text"]

    # nbconvert's HTML carries the picture as an <img> of the SVG.
    out = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--stdout",
                          str(result["notebook_path"])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    images = re.findall(r'<img [^>]*src="data:image/svg\+xml;base64,([^"]+)"', out.stdout)
    assert images and any(b"Training loss" in base64.b64decode(i) for i in images)
    assert summary in base64.b64decode(images[0]).decode()
