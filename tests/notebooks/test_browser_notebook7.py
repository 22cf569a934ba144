"""The widgets in Jupyter Notebook 7 (the ``notebook`` package), driven by headless Chromium.

Notebook 7 is built from JupyterLab's packages (the same ipywidgets manager, the same anywidget
extension) with its own pages: ``/tree`` and ``/notebooks/<name>.ipynb``, one notebook a tab. A
short notebook previews its prompts, trains the embedded model with the live chart and opens a
playground. The test checks that the preview shows its HTML rows; that the chart's SVG gains
points while training runs (and its tooltip and log scale work) and is then replaced by its
static picture; that the playground shows its sliders, Generate writes an answer and "Copy as
YAML" fills the clipboard. Then it saves, shuts the kernel down, saves again and reopens: every
output shows a picture or text (no "Error displaying widget", no ``VBox(`` repr). The copy saved
while the playground was live is reopened too, and shows what ``docs/troubleshooting.md`` says it
shows (the error in that cell only). Screenshots go to ``test-artifacts/browser/nb7-*.png``.

Skipped without Debian's chromium, the ``notebook`` package or playwright.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.notebooks.refresh_outputs import KERNEL_ENV, ROOT
from tests.notebooks.test_browser import (
    ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, KERNEL_IDLE, STORY_CONFIG, _free_port, _start_kernel_session,
    _wait_for_server, put_notebook,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

# A short run (80 steps of 4 rows, a validation every 20): long enough for the chart to draw
# several times and for the test to use its controls mid-run (6-40 s), short enough to keep the
# test near a minute on 2 shared cores.
CONFIG = """%%llm_config
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: instruction, type: text}]
output_features: [{name: output, type: text}]
prompt:
  template: "### Instruction:\\n{instruction}\\n\\n### Response:\\n"
adapter: {type: lora, r: 8}
trainer: {type: finetune, train_steps: 80, batch_size: 4, learning_rate: 0.005, steps_per_checkpoint: 20}
preprocessing: {split: {type: fixed, column: split}}
generation: {max_new_tokens: 4, do_sample: false}"""

STORY = "Once upon a time, there was a little dog named"
CELLS = [
    "%load_ext llm_magic",
    "import pandas as pd\nanimals = pd.read_csv('animals.csv')\n"
    "df = pd.concat([animals[animals.split == 0].head(60), animals[animals.split == 1].head(8), "
    "animals[animals.split == 2].head(4)])",
    CONFIG,
    "%llm_preview --data df",
    "%llm_train --data df",
    STORY_CONFIG,
    f"%%llm_prompt --ui --max_new_tokens 6\n{STORY}",
]
PREVIEW, TRAIN, PLAYGROUND = 3, 4, 6
NAME = "nb7.ipynb"
CELL = ".jp-Notebook .jp-CodeCell"

# Recorded in the page while the cells run (the live chart is gone once the run ends): each
# distinct number of points the chart's SVG showed, and whether it was replaced by its picture.
WATCH_CHART = """() => {
  window.__chart = {points: [], final: false};
  let seen = false;
  const look = () => {
    const svg = document.querySelector('.jp-OutputArea .llm-chart svg');
    if (svg) {
      seen = true;
      const points = Number(svg.dataset.points || 0);
      const list = window.__chart.points;
      if (list[list.length - 1] !== points) list.push(points);
    } else if (seen) {
      window.__chart.final = true;
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                     characterData: true});
}"""

SAVED = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  return Boolean(w && w.context && !w.context.model.dirty);
}"""


@contextmanager
def notebook_server(tmp_path: Path):
    """A Notebook 7 server (no token) on a free local port, serving a folder with ``animals.csv``."""
    pytest.importorskip("notebook", minversion="7")
    root = tmp_path / "nb"
    root.mkdir()
    shutil.copy(ROOT / "examples" / "data" / "animals.csv", root / "animals.csv")
    # No "news" toast over the cells (the same JupyterLab plugin as in test_browser.py).
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
            [sys.executable, "-m", "notebook", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", "--ServerApp.allow_root=True", "--ServerApp.disable_check_xsrf=True",
             f"--ServerApp.root_dir={root}", "--JupyterNotebookApp.expose_app_in_browser=True",
             f"--JupyterNotebookApp.workspaces_dir={tmp_path / 'workspaces'}",
             f"--JupyterNotebookApp.user_settings_dir={tmp_path / 'settings'}"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for_server(url, process, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _open(page, url: str, name: str) -> None:
    """Open ``name`` on Notebook 7's notebook page; wait for its kernel (started by the REST API)."""
    page.goto(f"{url}/notebooks/{name}", timeout=120_000)
    page.wait_for_selector(CELL, timeout=120_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)


def _save(page, url: str, name: str, copy: str) -> Path:
    """Save from the page (File > Save); return a copy of the saved file, ``ARTIFACTS / copy``."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(SAVED, timeout=30_000)
    with urllib.request.urlopen(f"{url}/api/contents/{name}?content=1", timeout=30) as response:
        model = json.load(response)
    path = ARTIFACTS / copy
    nbformat.write(nbformat.from_dict(model["content"]), path)
    return path


def _reopen(page, url: str, saved: Path, name: str) -> list[int]:
    """Open ``saved`` under ``name`` with a new kernel (no cell run, no widget state); screenshot it.

    Asserts every output shows a picture or text and none a ``VBox(`` repr; returns the cells
    that show "Error displaying widget".
    """
    put_notebook(url, name, json.loads(saved.read_text(encoding="utf-8")))
    _start_kernel_session(url, name)
    _open(page, url, name)
    page.wait_for_timeout(4_000)  # the widget manager gives up on a missing model after 2 s
    cells = page.locator(CELL)
    dead = []
    for index in range(cells.count()):
        area = cells.nth(index).locator(".jp-OutputArea")
        text = area.inner_text()
        assert "VBox(" not in text and "Loading widget" not in text, (name, index, text[:300])
        if "Error displaying widget" in text:
            dead.append(index)
        for output in area.locator(".jp-OutputArea-output").all():
            if output.is_hidden():
                continue  # a widget view's output that its static copy stands in for
            shows = output.locator("img, svg, table, pre, details, b").count() > 0
            assert shows or output.inner_text().strip(), (name, index, output.inner_html()[:300])
    # The notebook scrolls inside its panel (a page screenshot shows its top): one per output cell.
    for index in (PREVIEW, TRAIN, PLAYGROUND):
        cells.nth(index).screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-cell{index}.png"))
    return dead


def _use_controls(page, chart) -> tuple[str, tuple[float, float], bool]:
    """Hover over the live chart and tick its log-scale box; the tooltip's text and its offset
    from the pointer (px), and whether the axis said log."""
    svg = chart.locator("svg.llm-chart-svg")
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    x, y = box["x"] + box["width"] * 0.5, box["y"] + 120
    page.mouse.move(x, y)
    tooltip = chart.locator(".llm-chart-tooltip")
    tooltip.wait_for(state="visible", timeout=10_000)
    hover, tip = tooltip.inner_text(), tooltip.bounding_box()
    chart.screenshot(path=str(ARTIFACTS / "nb7-chart-hover.png"))
    chart.locator("input[type=checkbox]").check()
    page.wait_for_timeout(300)
    log_axis = "loss (log)" in svg.text_content()
    chart.screenshot(path=str(ARTIFACTS / "nb7-chart-log.png"))
    chart.locator("input[type=checkbox]").uncheck()
    page.mouse.move(0, 0)
    return hover, (tip["x"] - x, tip["y"] - y), log_axis


def test_the_chart_and_the_playground_work_and_survive_saving_in_notebook7(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with notebook_server(tmp_path) as url, sync_api.sync_playwright() as playwright:
        put_notebook(url, NAME, json.loads(nbformat.writes(new_notebook(
            cells=[new_code_cell(source) for source in CELLS],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}))))
        _start_kernel_session(url, NAME)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1300, "height": 2200})
        # The page may read the clipboard back: that is how the test sees what "Copy as YAML" wrote.
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        page = context.new_page()
        try:
            # The file browser page: Notebook 7's own, listing the notebook.
            page.goto(f"{url}/tree", timeout=120_000)
            page.get_by_text(NAME).first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "nb7-tree.png"))

            _open(page, url, NAME)
            page.evaluate(WATCH_CHART)
            # Not awaited in the page: the command's promise settles only when every cell has run.
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            cells = page.locator(CELL)
            chart = cells.nth(TRAIN).locator(".llm-chart")
            chart.wait_for(timeout=120_000)
            page.wait_for_function("() => window.__chart.points.some(p => p >= 3)", timeout=120_000)
            chart.screenshot(path=str(ARTIFACTS / "nb7-chart-live.png"))
            hover, tooltip_offset, log_axis = _use_controls(page, chart)
            page.wait_for_function(
                f"""() => {{
                  const prompts = [...document.querySelectorAll('{CELL} .jp-InputPrompt')].map(p => p.textContent);
                  return prompts.length === {len(CELLS)} && prompts.every(p => /\\d/.test(p));
                }}""", timeout=300_000)

            outputs = [cells.nth(i).locator(".jp-OutputArea") for i in range(len(CELLS))]
            text = "\n".join(o.inner_text() for o in outputs)
            assert "Loading widget" not in text, "Notebook 7 has no widget manager in this venv"
            assert "Error displaying widget" not in text and "VBox(children=" not in text, text
            assert "Traceback" not in text and "UsageError" not in text, text

            # The live chart grew while training ran, then left its static picture and summary.
            seen = page.evaluate("() => window.__chart")
            grown = [p for p in seen["points"] if p > 0]
            assert len(grown) >= 3 and grown == sorted(grown), seen
            assert seen["final"], seen
            # Mid-run, the hover tooltip showed by the pointer (the notebook scrolls inside its
            # panel here, unlike JupyterLab) and the log-scale box switched the axis.
            assert hover.startswith("step ") and "loss " in hover, hover
            assert all(0 <= d <= 30 for d in tooltip_offset), tooltip_offset
            assert log_axis
            cells.nth(TRAIN).screenshot(path=str(ARTIFACTS / "nb7-train.png"))
            assert outputs[TRAIN].locator("img").count() >= 1

            # The playground: six sliders; Generate shows the prompt with its answer.
            playground = outputs[PLAYGROUND]
            assert playground.locator(".widget-hslider").count() == 6
            # Nothing sticks out of the output (the prompt box kept its right border).
            overflow = page.evaluate("""el => {
              const right = el.getBoundingClientRect().right;
              return [...el.querySelectorAll('.widget-textarea, .widget-hslider')]
                .map(c => c.getBoundingClientRect().right - right).filter(d => d > 0.5);
            }""", playground.locator(".jp-OutputArea-output").first.element_handle())
            assert overflow == [], overflow
            answer = playground.locator(".widget-html-content").last
            playground.locator("button", has_text="Generate").click()
            page.wait_for_function("el => el.querySelector('.llm-magic-answer') && el.textContent.includes('tokens')",
                                   arg=answer.element_handle(), timeout=120_000)
            assert answer.locator("pre").inner_text().startswith(STORY)
            said = answer.locator(".llm-magic-answer").inner_text()
            assert said.strip(), "the playground gave no answer"
            playground.locator("button.llm-magic-copy").click()
            page.wait_for_function("el => el.textContent.includes('Copied')",
                                   arg=playground.locator(".llm-magic-copy-status").element_handle(),
                                   timeout=10_000)
            copied = page.evaluate("() => navigator.clipboard.readText()")
            assert copied.startswith("generation:") and "max_new_tokens: 6" in copied, copied
            cells.nth(PLAYGROUND).screenshot(path=str(ARTIFACTS / "nb7-playground.png"))

            # The prompt preview: HTML rows, the first open with the highlighted prompt.
            preview = outputs[PREVIEW]
            assert preview.locator("details").count() >= 2 and preview.locator("details[open] .llm-span").count() >= 1
            cells.nth(PREVIEW).screenshot(path=str(ARTIFACTS / "nb7-preview.png"))

            # Saved while the playground is live: the widget view, then its static copy (hidden here).
            assert playground.locator(".llm-magic-static").is_hidden()
            live = _save(page, url, NAME, "nb7-saved-live.ipynb")
            view, copy = (o["data"] for o in nbformat.read(live, as_version=4).cells[PLAYGROUND].outputs)
            assert "application/vnd.jupyter.widget-view+json" in view and said in copy["text/html"]
            pictures = [o for o in nbformat.read(live, as_version=4).cells[TRAIN].outputs
                        if "image/svg+xml" in o.get("data", {})]
            assert len(pictures) == 1 and "80/80 steps in" in pictures[0]["data"]["text/plain"], pictures

            # Shut the kernel down (Kernel > Shut Down Kernel, without its dialog): the playground
            # turns into its static HTML, the notebook is modified, and the next save keeps that.
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
            page.wait_for_function("el => el.textContent.includes('its kernel shut down')",
                                   arg=playground.element_handle(), timeout=60_000)
            assert playground.locator(".widget-hslider").count() == 0
            cells.nth(PLAYGROUND).screenshot(path=str(ARTIFACTS / "nb7-playground-shut-down.png"))
            after = _save(page, url, NAME, "nb7-saved-after-shutdown.ipynb")
            for index, cell in enumerate(nbformat.read(after, as_version=4).cells):
                for output in cell.get("outputs", []):
                    data = output.get("data", {})
                    assert "application/vnd.jupyter.widget-view+json" not in data, (index, list(data))
                    assert "VBox(" not in str(data.get("text/plain", "")), index

            # Reopened with a new kernel: every output readable, the copy saved live included (its
            # playground shows the static copy).
            assert _reopen(page, url, after, "nb7-reopened.ipynb") == []
            assert said in page.locator(CELL).nth(PLAYGROUND).inner_text()
            assert page.locator(CELL).nth(TRAIN).locator("img").count() == 1
            assert _reopen(page, url, live, "nb7-reopened-saved-live.ipynb") == []
            assert said in page.locator(CELL).nth(PLAYGROUND).inner_text()
        finally:
            page.screenshot(path=str(ARTIFACTS / "nb7-last-page.png"))
            browser.close()
