"""The widgets in a real browser: JupyterLab on 127.0.0.1, driven by headless Chromium.

A small widget notebook (config, prompt preview, a short LoRA run with the live loss plot, the
playground) is opened in JupyterLab and run. The test checks that the preview (HTML rows), the
loss plot and the playground's sliders render (not "Loading widget..." nor a text repr), that
moving a slider and pressing Generate changes the answer, that "Copy as YAML" puts the YAML on
the clipboard, and that the notebook, saved and reopened with a new kernel and no widget state,
and its nbconvert HTML show HTML or a picture for every output. Screenshots go to
``test-artifacts/browser/``.

Needs Debian's ``chromium`` at /usr/bin/chromium and the Python ``playwright`` and ``jupyterlab``
packages (``make test`` installs them; ``playwright install`` is never called). Skipped when they
are missing.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.notebooks.refresh_outputs import KERNEL_ENV, ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

CONFIG = """%%llm_config
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: instruction, type: text}]
output_features: [{name: output, type: text}]
prompt:
  template: "### Instruction:\\n{instruction}\\n\\n### Response:\\n"
adapter: {type: lora, r: 8}
trainer: {type: finetune, epochs: 2, batch_size: 4, learning_rate: 0.005}
preprocessing: {split: {type: fixed, column: split}}
generation: {max_new_tokens: 8, do_sample: false}"""

# The playground continues a story with the plain embedded model (the fine-tuned one answers one
# word and stops, whatever max_new_tokens allows).
STORY_CONFIG = """%%llm_config story
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: text, type: text}]
output_features: [{name: continuation, type: text}]
trainer: {type: none}
generation: {max_new_tokens: 8, do_sample: false}"""

# Cell index -> what it shows. The data is a slice of animals.csv that has all three splits.
CELLS = [
    "%load_ext llm_magic",
    "import pandas as pd\ndf = pd.read_csv('animals.csv').head(60)",
    CONFIG,
    "%llm_preview --data df",
    "%llm_train --data df",
    STORY_CONFIG,
    "%llm_playground",
]
PREVIEW, TRAIN, PLAYGROUND = 3, 4, 6

# Recorded in the page while cells run: the live loss chart is replaced by a static picture when
# the run ends, so the test cannot look for it afterwards. "image": the chart drew points; "stop":
# it showed how to stop the run (a foreground run: interrupt the kernel; --background: a button).
WATCH_LOSS_PLOT = """() => {
  window.__lossPlot = {image: false, stop: false};
  const look = () => {
    for (const svg of document.querySelectorAll('.jp-OutputArea .llm-chart svg')) {
      if (Number(svg.dataset.points || 0) > 0) window.__lossPlot.image = true;
    }
    for (const el of document.querySelectorAll('.jp-OutputArea .llm-chart-stop, .jp-OutputArea .llm-chart-stop-hint')) {
      if (el.style.display !== 'none' && /stop/i.test(el.textContent)) window.__lossPlot.stop = true;
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""

KERNEL_IDLE = """() => {
  const widget = window.jupyterapp.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return Boolean(kernel) && kernel.status === 'idle';
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=5) as response:
                json.load(response)
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer on {url} within {timeout:.0f} s")


def put_notebook(url: str, name: str, content: dict) -> None:
    """Write ``content`` as the notebook ``name`` through the server's contents API."""
    request = urllib.request.Request(f"{url}/api/contents/{name}", method="PUT",
                                     data=json.dumps({"type": "notebook", "format": "json",
                                                      "content": content}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).close()


def _start_kernel_session(url: str, path: str) -> None:
    """Start the notebook's kernel through the REST API, so the page opens without a kernel dialog."""
    body = json.dumps({"path": path, "type": "notebook", "name": path,
                       "kernel": {"name": "python3"}}).encode()
    request = urllib.request.Request(f"{url}/api/sessions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        json.load(response)


@pytest.fixture
def jupyter_lab(tmp_path):
    """A JupyterLab server on a free local port (no token) serving a folder with the notebook."""
    pytest.importorskip("jupyterlab")
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "examples" / "data" / "animals.csv", root / "animals.csv")
    notebook = new_notebook(cells=[new_code_cell(source) for source in CELLS],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}})
    nbformat.write(notebook, root / "widgets.ipynb")
    # No "news" toast over the cells: disable that plugin in this server's own config folder.
    labconfig = tmp_path / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port = _free_port()
    env = {**os.environ, **KERNEL_ENV,
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("LLM_MAGIC_FRONTEND", None)
    log_path = tmp_path / "jupyter.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.allow_root=True", "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(url, process, log_path)
        _start_kernel_session(url, "widgets.ipynb")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_until_run(page, cells: int, timeout: float = 300) -> None:
    """Wait until every code cell shows an execution count (none queued or running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        if len(prompts) == cells and all(any(ch.isdigit() for ch in p) for p in prompts):
            return
        page.wait_for_timeout(500)
    raise TimeoutError(f"the notebook did not finish within {timeout:.0f} s: prompts {prompts}")


def _set_slider(output, label: str, value: int) -> None:
    """Type ``value`` into the readout of the slider described by ``label`` and press Enter."""
    slider = output.locator(".widget-hslider").filter(has=output.page.locator(".widget-label", has_text=label))
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+A")
    readout.type(str(value))
    readout.press("Enter")


def test_widgets_render_and_respond_in_jupyterlab(jupyter_lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 2400})
        # The page may read the clipboard back: that is how the test sees what "Copy as YAML" wrote.
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=jupyter_lab)
        page = context.new_page()
        try:
            page.goto(f"{jupyter_lab}/lab/tree/widgets.ipynb", timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=120_000)
            page.evaluate(WATCH_LOSS_PLOT)
            # Not awaited in the page: the command's promise settles only when every cell has run.
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            _wait_until_run(page, len(CELLS))

            cells = page.locator(".jp-Notebook .jp-CodeCell")
            outputs = [cells.nth(i).locator(".jp-OutputArea") for i in range(len(CELLS))]
            text = "\n".join(o.inner_text() for o in outputs)
            assert "Loading widget" not in text, "the widget manager is missing in the JupyterLab of this venv"
            assert "VBox(children=" not in text, "a widget fell back to its text repr"
            assert "Traceback" not in text and "UsageError" not in text, text

            # The prompt preview: HTML rows (no widget), the first open with the highlighted prompt.
            preview = outputs[PREVIEW]
            assert preview.locator("details").count() >= 2
            assert preview.locator("details[open] .llm-span").count() >= 1
            assert "Which animal is in this sentence?" in preview.inner_text()
            # The slow steps said what they were doing, and no library tqdm bar leaked in.
            assert "Loading llm-magic/tiny: done" in text and "Loading weights" not in text

            # The loss plot was a live chart (points drawn, how to stop) and left a static picture.
            seen = page.evaluate("() => window.__lossPlot")
            assert seen == {"image": True, "stop": True}, seen
            assert outputs[TRAIN].locator("img").count() >= 1
            assert "Evaluation on the test split" in outputs[TRAIN].inner_text()

            # The playground: six sliders; max_new_tokens 2 -> 30 changes the answer.
            playground = outputs[PLAYGROUND]
            assert playground.locator(".widget-hslider").count() == 6
            story = "Once upon a time, there was a little dog named"
            playground.locator("textarea").first.fill(story)
            answer = playground.locator(".widget-html-content").last
            answers = []
            for tokens in (2, 30):
                _set_slider(playground, "max_new_tokens", tokens)
                before = answer.inner_html()
                playground.locator("button", has_text="Generate").click()
                # Done when the answer changed and its footer has the token count.
                page.wait_for_function(
                    "([el, old]) => el.innerHTML !== old && el.querySelector('.llm-magic-answer')"
                    " && (el.querySelector('div') || {}).textContent?.includes('tokens')",
                    arg=[answer.element_handle(), before], timeout=60_000,
                )
                # The prompt is shown with its answer.
                assert answer.locator("pre").inner_text().startswith(story)
                answers.append(answer.locator(".llm-magic-answer").inner_text())
            assert answers[0] and answers[1] and answers[0] != answers[1], answers
            assert len(answers[1]) > len(answers[0]), answers
            # Re-enabled once the run ends (its own comm message, which may follow the answer's).
            from playwright.sync_api import expect

            expect(playground.locator("button", has_text="Generate")).to_be_enabled(timeout=15_000)
            assert not playground.locator("button", has_text="Stop").is_enabled()

            # "Copy as YAML" writes the settings to the clipboard and says so.
            playground.locator("button.llm-magic-copy").click()
            page.wait_for_function(
                "el => el.textContent.includes('Copied')",
                arg=playground.locator(".llm-magic-copy-status").element_handle(), timeout=10_000)
            copied = page.evaluate("() => navigator.clipboard.readText()")
            assert copied.startswith("generation:") and "max_new_tokens: 30" in copied, copied
            cells.nth(TRAIN).screenshot(path=str(ARTIFACTS / "loss-plot.png"))
            cells.nth(PREVIEW).screenshot(path=str(ARTIFACTS / "preview.png"))
            cells.nth(PLAYGROUND).screenshot(path=str(ARTIFACTS / "playground.png"))
            page.screenshot(path=str(ARTIFACTS / "notebook.png"))

            # Saved with the playground still live: nbconvert shows every fallback, and JupyterLab,
            # which draws a widget view in preference to any fallback in the same output, shows
            # the playground's static copy (an output of its own) once the model died with its
            # kernel. Only the playground, interactive while its kernel lives, is still a widget.
            live = _save(page, jupyter_lab, "saved-live.ipynb")
            # Done turns the playground into its static HTML: then nothing is left to go missing.
            # (Before any reload: display updates find their output only in the page that ran it.)
            playground.locator("button", has_text="Done").click()
            playground.locator(".llm-magic-playground").wait_for(timeout=30_000)
            assert answers[1] in playground.inner_text()
            assert playground.locator(".widget-hslider").count() == 0
            done = _save(page, jupyter_lab, "saved.ipynb")

            for path in (live, done):
                _check_saved_outputs(path)
            _check_nbconvert_html(live, page)
            assert _check_reopened(page, jupyter_lab, live, "reopened-live.ipynb") == []
            assert answers[1] in page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(
                PLAYGROUND).inner_text()
            assert _check_reopened(page, jupyter_lab, done, "reopened.ipynb") == []
        finally:
            page.screenshot(path=str(ARTIFACTS / "last-page.png"))
            browser.close()


def _save(page, url: str, name: str) -> Path:
    """Save the notebook from the page; return a copy of the saved file, ``ARTIFACTS / name``."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("""() => {
      const w = window.jupyterapp.shell.currentWidget;
      return w && w.context && !w.context.model.dirty;
    }""", timeout=30_000)
    with urllib.request.urlopen(f"{url}/api/contents/widgets.ipynb?content=1", timeout=30) as response:
        model = json.load(response)
    path = ARTIFACTS / name
    nbformat.write(nbformat.from_dict(model["content"]), path)
    return path


def _cell_outputs(path: Path) -> list[tuple[int, dict]]:
    notebook = nbformat.read(path, as_version=4)
    return [(index, output) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for output in cell.get("outputs", [])]


def _check_saved_outputs(path: Path) -> None:
    """Every display in the saved file carries HTML or a picture besides any widget view."""
    for index, output in _cell_outputs(path):
        if output.get("output_type") not in ("display_data", "execute_result"):
            continue
        data = output.get("data", {})
        assert {"text/html", "image/png", "image/svg+xml"} & set(data), (index, list(data))
        assert "VBox(" not in str(data.get("text/plain", "")), (index, data.get("text/plain"))


def _check_nbconvert_html(path: Path, page) -> None:
    """nbconvert's HTML (no widget state saved) shows the fallbacks; screenshot it."""
    html_path = ARTIFACTS / "saved.html"
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--output", html_path.stem,
                    "--output-dir", str(ARTIFACTS), str(path)], check=True, capture_output=True, timeout=120)
    page_html = html_path.read_text(encoding="utf-8")
    for bad in ("Error displaying widget", "VBox(", "Loading weights"):
        assert bad not in page_html, bad
    for good in ("llm-magic-preview", "llm-magic-playground", "llm-magic-progress", "Evaluation on the test split"):
        assert good in page_html, good
    page.goto(html_path.as_uri())
    page.screenshot(path=str(ARTIFACTS / "nbconvert.png"), full_page=True)


def _check_reopened(page, url: str, saved: Path, reopened: str) -> list[int]:
    """Open the saved notebook with a new kernel (no cell run, no widget state).

    Asserts every output shows HTML or a picture (or text) and none a ``VBox(`` repr; returns the
    cells that show "Error displaying widget".
    """
    body = saved.read_text(encoding="utf-8")
    # The same content under a new name: the same trust, a new kernel session.
    put_notebook(url, reopened, json.loads(body))
    _start_kernel_session(url, reopened)
    page.goto(f"{url}/lab/tree/{reopened}", timeout=120_000)
    # Only the notebook in front: the workspace keeps the earlier ones open in other tabs.
    front = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell"
    page.wait_for_selector(front, timeout=120_000)
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.wait_for_timeout(6_000)  # the widget manager gives up on a missing model after 2 s
    cells = page.locator(front)
    dead = []
    for index in range(cells.count()):
        area = cells.nth(index).locator(".jp-OutputArea")
        text = area.inner_text()
        assert "VBox(" not in text, (index, text[:300])
        if "Error displaying widget" in text:
            dead.append(index)
        for output in area.locator(".jp-OutputArea-output").all():
            if output.is_hidden():
                continue  # a widget view's output that its static copy stands in for
            shows = output.locator("img, table, pre, div.llm-magic-progress, details, b").count() > 0
            assert shows or output.inner_text().strip(), (index, output.inner_html()[:300])
    stem = Path(reopened).stem
    page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
    cells.nth(PLAYGROUND).screenshot(path=str(ARTIFACTS / f"{stem}-playground.png"))
    return dead
