"""The live chart drawn by Chromium: epoch labels never overlap, however many epochs fit.

The ES module runs in a bare page (:mod:`tests.widgets.chart_page`), not JupyterLab, so this
takes seconds; ``tests/notebooks/test_browser_chart.py`` drives the whole notebook. Screenshots
go to ``test-artifacts/browser/chart-epochs-*.png``.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.widgets.chart_page import open_chart

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")

LABELS = """() => [...document.querySelectorAll('.llm-chart-epoch-label')].map((t) => {
  const r = t.getBoundingClientRect();
  return {text: t.textContent, left: r.left, right: r.right};
})"""


def _run(steps: int, epochs: int) -> dict:
    """A short run of ``epochs`` epochs: a point a step, a validation every epoch."""
    per_epoch = steps // epochs
    return {"loss": [[s, 3 / math.sqrt(s)] for s in range(1, steps + 1)],
            "learning_rate": [[s, 1e-3 * (1 - s / steps)] for s in range(1, steps + 1)],
            "epoch": [[s, s / per_epoch] for s in range(1, steps + 1)],
            "eval_loss": [[s, 2.5 / math.sqrt(s)] for s in range(per_epoch, steps + 1, per_epoch)]}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.mark.parametrize(("epochs", "width"), [(10, 980), (10, 500), (30, 980)])
def test_epoch_labels_do_not_overlap(browser, epochs, width):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    steps = 6 * epochs
    page = open_chart(browser, _run(steps, epochs), {"max_steps": steps, "best_step": steps - 6,
                                                      "status_line": f"step {steps}/{steps}"}, width=width)
    try:
        page.locator(".llm-chart").screenshot(path=str(ARTIFACTS / f"chart-epochs-{epochs}-{width}px.png"))
        labels = page.evaluate(LABELS)
        lines = page.locator(".llm-chart-epoch").count()
    finally:
        page.close()
    assert lines == epochs - 1  # every boundary keeps its line
    assert labels and labels[0]["text"] == "epoch 2"
    for before, after in zip(labels, labels[1:]):
        assert after["left"] >= before["right"] + 4, (before, after)
    if width >= 980 and epochs <= 10:
        assert len(labels) == epochs - 1  # room for all: none is left out


VISIBLE = """(selector) => {
  const el = document.querySelector(selector);
  return Boolean(el) && el.offsetParent !== null && getComputedStyle(el).display !== 'none';
}"""


@pytest.mark.parametrize("status", ["running", "finished"])
def test_a_foreground_run_shows_how_to_stop_it_instead_of_a_button_that_cannot_act(browser, status):
    # In the foreground the kernel is busy running the cell: a click's message would be read only
    # after the run, so there is no Stop button, but a hint while the run lasts.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = open_chart(browser, _run(60, 3), {"max_steps": 120, "status": status, "foreground": True,
                                             "status_line": "step 60/120"}, width=720)
    try:
        page.locator(".llm-chart").screenshot(path=str(ARTIFACTS / f"chart-foreground-{status}.png"))
        assert not page.evaluate(VISIBLE, ".llm-chart-stop")
        hint = page.evaluate(VISIBLE, ".llm-chart-stop-hint")
        text = page.locator(".llm-chart-stop-hint").inner_text()
    finally:
        page.close()
    if status == "running":
        assert hint and "interrupt the kernel" in text and "checkpoint" in text
    else:
        assert not hint  # nothing left to stop


def test_a_background_run_has_a_stop_button_that_messages_the_kernel(browser):
    page = open_chart(browser, _run(60, 3), {"max_steps": 120, "status": "running", "foreground": False}, width=720)
    try:
        assert page.evaluate(VISIBLE, ".llm-chart-stop") and not page.evaluate(VISIBLE, ".llm-chart-stop-hint")
        page.locator(".llm-chart-stop").click()
        sent = page.evaluate("() => window.__sent")
        label = page.locator(".llm-chart-stop").inner_text()
        disabled = page.locator(".llm-chart-stop").is_disabled()
    finally:
        page.close()
    assert {"k": "stop"} in sent and disabled and label.startswith("Stopping")


def test_a_preference_run_draws_its_rewards_and_accuracy_under_the_loss(browser):
    steps = 30
    points = _run(steps, 3)
    for split, every in (("", 1), ("eval_", 10)):
        for s in range(every, steps + 1, every):
            points.setdefault(f"{split}rewards/chosen", []).append([s, 0.05 * s])
            points.setdefault(f"{split}rewards/rejected", []).append([s, -0.03 * s])
            points.setdefault(f"{split}rewards/margins", []).append([s, 0.08 * s])
            points.setdefault(f"{split}rewards/accuracies", []).append([s, min(1.0, s / 10)])
    page = open_chart(browser, points, {"max_steps": steps})
    try:
        panel = page.locator(".llm-chart-preference")
        assert panel.is_visible()
        drawn = panel.locator("svg").get_attribute("data-points")
        assert int(drawn) == 4 * steps + 4 * 3  # every reward point reached the page
        assert "margin (chosen - rejected)" in panel.inner_text()
        # Four curves (chosen, rejected, margin, accuracy), each a real line across the steps.
        lengths = page.evaluate("""() => [...document.querySelectorAll('.llm-chart-preference path')]
            .map((p) => p.getTotalLength())""")
        assert len(lengths) == 4 and all(length > 100 for length in lengths)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chart-preference.png"), full_page=True)
    finally:
        page.close()


def test_a_fine_tuning_run_has_no_preference_panel(browser):
    page = open_chart(browser, _run(20, 2), {"max_steps": 20})
    try:
        assert not page.locator(".llm-chart-preference").is_visible()
    finally:
        page.close()
