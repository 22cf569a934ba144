"""The browser half of the live loss chart: an anywidget model and the points the kernel sends it.

The page draws the chart (``static/loss_chart.js``, SVG); the kernel only sends the points logged
since its last message, a few bytes a step, at most every ``interval`` seconds.

Why anywidget with our own small ES module: measured on this machine (2 busy cores, 2026-12-02)
by ``benchmarks/bench_chart_candidates.py``, 600 one-step updates of a 2-series chart, each
message JSON-encoded and signed as ipykernel sends it:

- anywidget 0.11 + ``static/loss_chart.js``: 0.07-0.13 s to import and create; 20-27 µs a step,
  80 kB in all (only the new point goes). Prebuilt JavaScript served by anywidget's own
  extension (no JupyterLab build), over the standard widget protocol, so JupyterLab,
  Notebook 7, VS Code and Colab render it.
- plotly 7 ``FigureWidget``: 1.1 s to import and create; 4,600 µs a step and 7 MB in all: a
  trace's ``x``/``y`` are resent whole on every change (quadratic in the run's length).
- bqplot 0.13: 1.0 s to import and create; 230 µs a step and 0.5 MB (whole arrays, binary),
  growing with the run; and a JupyterLab extension of its own to install.

A chart drawn in the kernel (matplotlib into an image, as before) cost 100-150 ms a frame, so it
could be live or cheap, never both; the final picture is an SVG written by :mod:`.loss_picture`.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover - types only
    import anywidget

__all__ = ["PointSender", "chart_widget"]

STATIC = Path(__file__).with_name("static")

_widget_class: type[anywidget.AnyWidget] | None = None


def chart_widget(on_stop: Callable[[], Any] | None, history: Callable[[], dict]) -> anywidget.AnyWidget:
    """A new chart widget; ``on_stop`` runs when its Stop button is pressed (from the page).

    ``history`` returns every point so far (``{series: [[step, value], ...]}``); it answers a
    view that opens in the middle of a run (a reloaded page), which asks for it.
    """
    widget = _chart_class()()

    def on_message(_widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("k") if isinstance(content, dict) else None
        if kind == "stop":
            if on_stop is not None:
                on_stop()
        elif kind == "history":
            widget.send({"k": "history", "t": _now_ms(), "d": history()})

    widget.on_msg(on_message)
    return widget


def _chart_class() -> type[anywidget.AnyWidget]:
    """The anywidget class, defined on first use: importing anywidget (and ipywidgets) takes
    0.1-0.4 s, which ``%load_ext llm_magic`` must not pay."""
    global _widget_class
    if _widget_class is None:
        # lazy: anywidget costs 0.1-0.4 s; paid by the first chart shown only
        import anywidget
        import traitlets

        class LossChartWidget(anywidget.AnyWidget):
            """The live chart's model; the page keeps the points, the kernel streams new ones."""

            _esm = STATIC / "loss_chart.js"
            _css = STATIC / "loss_chart.css"
            max_steps = traitlets.Int(0).tag(sync=True)
            best_step = traitlets.Int(-1).tag(sync=True)
            status = traitlets.Unicode("starting").tag(sync=True)
            #: The one-line state under the chart (step, losses, lr, tokens/s, ETA).
            status_line = traitlets.Unicode("").tag(sync=True)
            #: The latest ``--sample-every`` answers: ``{"step": n, "rows": [...]}``.
            samples = traitlets.Dict().tag(sync=True)
            #: The run holds the kernel: the page shows how to stop it instead of a Stop button
            #: whose message the kernel would read only after the run.
            foreground = traitlets.Bool(False).tag(sync=True)

        _widget_class = LossChartWidget
    return _widget_class


def _now_ms() -> float:
    # Wall clock, not monotonic: the page compares it with its own Date.now() to measure the lag.
    return round(time.time() * 1000, 1)


def _compact(value: float) -> float:
    """Six significant digits: what a chart can show, and half the bytes of a full float."""
    return float(f"{value:.6g}")


class PointSender:
    """Buffers new points and hands them to ``send`` at most every ``interval`` seconds.

    A fast run (a step every few ms) thus costs a few messages a second, not one a step; a point
    that arrives within ``interval`` of the last message is sent by a timer at the end of that
    interval, so the page is never more than ``interval`` behind, even when the next log comes
    only after a long evaluation. ``send(points, logged_at_ms, state)`` runs under a lock, on the
    logging thread or the timer's; ``state()`` gives the widget state to send with the points.
    """

    def __init__(self, send: Callable[[dict, float], None], interval: float = 0.25) -> None:
        self.send = send
        self.interval = interval
        self.messages = 0
        self._lock = threading.Lock()
        self._pending: dict[str, list[list[float]]] = {}
        self._oldest: float | None = None
        self._last_sent = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    def add(self, step: int, values: Mapping[str, float]) -> None:
        """Queue the points of one step; send now if the last message is at least ``interval`` old."""
        with self._lock:
            if self._closed:
                return
            for name, value in values.items():
                self._pending.setdefault(name, []).append([step, _compact(value)])
            if self._oldest is None:
                self._oldest = _now_ms()
            self._send_or_wait()

    def touch(self) -> None:
        """Something other than a point changed (status, best step): send it on the same schedule."""
        with self._lock:
            if not self._closed:
                self._oldest = self._oldest or _now_ms()
                self._send_or_wait()

    def flush(self) -> None:
        """Send whatever is queued now."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Send what is queued and stop the timer; later points are dropped."""
        with self._lock:
            self._flush_locked()
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _send_or_wait(self) -> None:
        wait = self._last_sent + self.interval - time.monotonic()
        if wait <= 0:
            self._flush_locked()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._on_timer)
            self._timer.daemon = True
            self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if not self._closed:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._oldest is None:
            return
        points, self._pending = self._pending, {}
        logged_at, self._oldest = self._oldest, None
        self._last_sent = time.monotonic()
        self.messages += 1
        self.send(points, logged_at)
