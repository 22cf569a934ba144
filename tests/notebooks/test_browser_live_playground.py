"""A notebook saved while the playground is live, in JupyterLab: what a reopened copy shows.

JupyterLab draws a widget view in preference to any fallback in the same (trusted) output, so
the playground is two outputs: its view, then its static copy, and the copy's style shows one
of them (``widgets/frontend.py``, :class:`WidgetDisplay`). Live, the page shows the controls
and hides the copy; a notebook saved while the kernel still runs reopens with a new kernel
showing the copy (the last prompt, answer and settings), not "Error displaying widget". A
kernel shutdown also turns the outputs into the copy alone (:meth:`Playground.orphan`), so the
notebook saved after it holds no widget view. With JupyterLab's widget-state setting (the second
test) a reopened copy shows its controls.

Skipped without Debian's chromium, like ``test_browser.py`` (whose JupyterLab fixture it uses).
Screenshots go to ``test-artifacts/browser/live-playground-*.png``.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.notebooks.test_browser import (  # noqa: F401 - jupyter_lab is a fixture
    ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, KERNEL_IDLE, STORY_CONFIG, _start_kernel_session, jupyter_lab,
    put_notebook,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

STORY = "Once upon a time, there was a little dog named"
CELLS = ["%load_ext llm_magic", STORY_CONFIG, f"%%llm_prompt --ui --max_new_tokens 6\n{STORY}"]
PLAYGROUND = 2
NAME = "live.ipynb"
FRONT = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell"

SESSION = "window.jupyterapp.shell.currentWidget.sessionContext"


def _open(page, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}", timeout=120_000)
    page.wait_for_selector(FRONT, timeout=120_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)


def _run_all(page, cells: int) -> None:
    """Run every cell; wait until each shows an execution count."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(
        f"""() => {{
          const prompts = [...document.querySelectorAll('{FRONT} .jp-InputPrompt')].map(p => p.textContent);
          return prompts.length === {cells} && prompts.every(p => /\\d/.test(p));
        }}""", timeout=300_000)


def _generate(page) -> str:
    """Press Generate in the live playground; return the answer it shows."""
    output = page.locator(FRONT).nth(PLAYGROUND).locator(".jp-OutputArea")
    output.locator(".widget-hslider").first.wait_for(timeout=60_000)
    answer = output.locator(".widget-html-content").last
    output.locator("button", has_text="Generate").click()
    page.wait_for_function("el => el.querySelector('.llm-magic-answer') && el.textContent.includes('tokens')",
                           arg=answer.element_handle(), timeout=120_000)
    return answer.locator(".llm-magic-answer").inner_text()


def _save(page, url: str, name: str, copy: str) -> Path:
    """Save the notebook from the page; return a copy of the saved file, ``ARTIFACTS / copy``."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("""() => {
      const w = window.jupyterapp.shell.currentWidget;
      return w && w.context && !w.context.model.dirty;
    }""", timeout=30_000)
    with urllib.request.urlopen(f"{url}/api/contents/{name}?content=1", timeout=30) as response:
        model = json.load(response)
    path = ARTIFACTS / copy
    nbformat.write(nbformat.from_dict(model["content"]), path)
    return path


def _playground_data(path: Path) -> tuple[dict, dict]:
    """The playground's two saved outputs: the view's, then the static copy's."""
    notebook = nbformat.read(path, as_version=4)
    outputs = notebook.cells[PLAYGROUND].outputs
    assert len(outputs) == 2, outputs
    return outputs[0]["data"], outputs[1]["data"]


def _reopen(page, url: str, saved: Path, name: str) -> str:
    """Open ``saved`` under ``name`` with a new kernel; screenshot it; return the playground's text."""
    put_notebook(url, name, json.loads(saved.read_text(encoding="utf-8")))
    _start_kernel_session(url, name)
    _open(page, url, name)
    page.wait_for_timeout(6_000)  # the widget manager gives up on a missing model after 2 s
    cell = page.locator(FRONT).nth(PLAYGROUND)
    cell.screenshot(path=str(ARTIFACTS / f"live-playground-{Path(name).stem}.png"))
    return cell.locator(".jp-OutputArea").inner_text()


def _notebook() -> dict:
    return json.loads(nbformat.writes(new_notebook(
        cells=[new_code_cell(source) for source in CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})))


def test_a_kernel_shutdown_turns_the_live_playground_into_its_static_html(jupyter_lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    put_notebook(jupyter_lab, NAME, _notebook())
    _start_kernel_session(jupyter_lab, NAME)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
        try:
            _open(page, jupyter_lab, NAME)
            _run_all(page, len(CELLS))
            answer = _generate(page)
            assert answer.strip(), "the playground gave no answer"
            cell = page.locator(FRONT).nth(PLAYGROUND)
            cell.screenshot(path=str(ARTIFACTS / "live-playground-running.png"))
            # Live: the controls show, the static copy beside them does not.
            assert cell.locator(".llm-magic-static").count() == 1 and cell.locator(".llm-magic-static").is_hidden()
            assert cell.locator(".widget-hslider").first.is_visible()
            assert "Prompt playground" not in cell.locator(".jp-OutputArea").inner_text()
            live = _save(page, jupyter_lab, NAME, "live-playground-saved-live.ipynb")
            view, copy = _playground_data(live)
            assert "application/vnd.jupyter.widget-view+json" in view and answer in copy["text/html"]

            # Kernel > Shut Down Kernel (without its confirmation dialog): the page shows the static
            # HTML at once, and the notebook is modified, so JupyterLab saves it (autosave) or asks to.
            output = cell.locator(".jp-OutputArea")
            page.evaluate(f"() => {SESSION}.shutdown()")
            page.wait_for_function("el => el.textContent.includes('its kernel shut down')",
                                   arg=output.element_handle(), timeout=60_000)
            assert output.locator(".widget-hslider").count() == 0
            assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
            cell.screenshot(path=str(ARTIFACTS / "live-playground-shut-down.png"))
            after = _save(page, jupyter_lab, NAME, "live-playground-saved-after-shutdown.ipynb")
            view, copy = _playground_data(after)
            assert "application/vnd.jupyter.widget-view+json" not in view, list(view)
            assert answer in copy["text/html"]

            shown = _reopen(page, jupyter_lab, after, "reopened-after-shutdown.ipynb")
            assert "Error displaying widget" not in shown, shown
            assert "Prompt playground" in shown and answer in shown and "max_new_tokens: 6" in shown
            # Saved while the kernel ran: the view's model is gone, so the page shows the copy.
            shown = _reopen(page, jupyter_lab, live, "reopened-saved-live.ipynb")
            assert "Error displaying widget" not in shown, shown
            assert "Prompt playground" in shown and answer in shown and "max_new_tokens: 6" in shown
        finally:
            page.screenshot(path=str(ARTIFACTS / "live-playground-last-page.png"))
            browser.close()


def test_with_the_widget_state_setting_a_notebook_saved_live_reopens_with_its_controls(jupyter_lab, tmp_path):
    """JupyterLab's "Save Jupyter widget state in notebooks" setting keeps the models in the file."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The fixture's server reads user settings from here (--LabApp.user_settings_dir) on page load.
    settings = tmp_path / "settings" / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.jupyterlab-settings"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"saveState": True}))
    put_notebook(jupyter_lab, NAME, _notebook())
    _start_kernel_session(jupyter_lab, NAME)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
        try:
            _open(page, jupyter_lab, NAME)
            _run_all(page, len(CELLS))
            answer = _generate(page)
            live = _save(page, jupyter_lab, NAME, "live-playground-saved-with-state.ipynb")
            assert "widgets" in nbformat.read(live, as_version=4).metadata
            shown = _reopen(page, jupyter_lab, live, "reopened-saved-with-state.ipynb")
            assert "Error displaying widget" not in shown, shown
            cell = page.locator(FRONT).nth(PLAYGROUND)
            assert cell.locator(".widget-hslider").count() == 6
            assert answer in shown and STORY in cell.locator("textarea").first.input_value()
        finally:
            page.screenshot(path=str(ARTIFACTS / "live-playground-state-last-page.png"))
            browser.close()
