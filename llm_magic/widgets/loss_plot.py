"""The live loss chart of a training run (one per run); a metric logger (:class:`~llm_magic.runtime.training.loggers.MetricLogger`).

In Jupyter it is a chart drawn in the browser (:mod:`.loss_chart`, ``static/loss_chart.js``):
the kernel streams only the points logged since its last message, a few times a second, and
the page draws training loss (raw and smoothed), validation loss, learning rate, epoch
boundaries and the best checkpoint, with values on hover, zoom and a log scale, a one-line
status under it and a Stop button. When the run finishes, stops or fails, the output is
replaced in place by a static picture (:mod:`.loss_picture`, an SVG) and a one-line summary,
so a saved notebook, its nbconvert HTML and GitHub show the run without a kernel.

In terminal IPython a :class:`~llm_magic.runtime.training.loggers.TextLogger` progress line
replaces it. Either way the recorded state (``points``, ``best_step``, ``samples``, ``status``)
is the same, and is what tests check.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from IPython.display import DisplayHandle, display

from llm_magic.runtime.training.loggers import BaseLogger, TextLogger, eta_seconds, format_duration
from llm_magic.widgets.frontend import is_notebook
from llm_magic.widgets.loss_chart import PointSender, chart_widget
from llm_magic.widgets.loss_picture import render_svg

if TYPE_CHECKING:  # pragma: no cover - types only
    import anywidget

__all__ = ["LossPlot"]

# Series kept for the chart and the summary; anything else logged is kept in `latest` only.
#: TRL's rewards, logged by preference runs (``trainer.type: dpo | kto | orpo``), drawn in a second chart.
PREFERENCE_SERIES = tuple(f"{prefix}rewards/{name}" for name in ("chosen", "rejected", "margins", "accuracies")
                          for prefix in ("", "eval_"))
_SERIES = ("loss", "eval_loss", "learning_rate", "tokens_per_second", "epoch", *PREFERENCE_SERIES)
_RUNNING = ("starting", "running")
_FALLBACK = ("Live training chart (it needs Jupyter widgets); the final picture and summary "
             "replace it when the run ends.")


class LossPlot(BaseLogger):
    """Live chart and progress of one training run; see the module docstring."""

    #: Least seconds between two messages to the page: 4 a second keeps the chart far inside
    #: the 2 s lag target, and a fast run (100 steps a second) still sends 4 messages, not 100.
    min_interval: float = 0.25
    #: The series the page draws (tokens/s is in the status line only).
    widget_series = ("loss", "eval_loss", "learning_rate", "epoch", *PREFERENCE_SERIES)

    def __init__(self, run_id: str, on_stop: Callable[[], Any] | None = None,
                 notebook: bool | None = None, outcome: Callable[[], str | None] | None = None,
                 foreground: bool = False, min_interval: float | None = None) -> None:
        self.run_id = run_id
        if min_interval is not None:  # the LlmMagics.chart_interval setting
            self.min_interval = min_interval
        #: The run holds the kernel (not ``--background``): the page's Stop button could not
        #: reach it, so the page says to interrupt the kernel instead.
        self.foreground = foreground
        self.on_stop = on_stop
        #: How the run ended, asked at ``close`` when no final status was logged (a failure).
        self.outcome = outcome
        self.notebook = is_notebook() if notebook is None else notebook
        self.points: dict[str, list[tuple[int, float]]] = {name: [] for name in _SERIES}
        self.latest: dict[str, float] = {}
        self.best_step: int | None = None
        #: ``(step, [{"prompt", "target", "output"}, ...])`` for each ``--sample-every`` round.
        self.samples: list[tuple[int, list[dict]]] = []
        self.status = "starting"
        self.step = 0
        self.max_steps: int | None = None
        self.closed = False
        #: The final picture (SVG text), once a notebook run has ended.
        self.final_svg: str | None = None
        self._first_step: int | None = None
        self._started = time.monotonic()
        self._ended: float | None = None
        self._handle: DisplayHandle | None = None
        self.widget: anywidget.AnyWidget | None = None
        self._sender: PointSender | None = None
        self._text = None if self.notebook else TextLogger()

    @property
    def messages(self) -> int:
        """How many messages the kernel has sent the page so far (0 before :meth:`show`)."""
        return self._sender.messages if self._sender is not None else 0

    # ------------------------------------------------------------------ metric-logger Protocol
    def log(self, name: str, value: float, step: int) -> None:
        """Record one number; in a notebook, queue it for the page."""
        self.log_dict({name: value}, step)

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Record several numbers logged at ``step``."""
        self._at(step)
        for name, value in values.items():
            if isinstance(value, (int, float)):
                self.latest[name] = float(value)
                if name in self.points:
                    self.points[name].append((step, float(value)))
        if self._text is not None:
            self._text.log_dict(values, step)
        elif self._sender is not None:
            self._queue(values, step)

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """The run's total steps (the chart's x range, the ETA)."""
        self._at(step)
        self.max_steps = int(max_steps)
        self._event("on_max_steps", max_steps, step)

    def on_best_step(self, best_step: int, step: int) -> None:
        """Mark the best checkpoint's step."""
        self._at(step)
        self.best_step = int(best_step)
        self._event("on_best_step", best_step, step)

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """Keep a ``--sample-every`` round (the page shows the newest)."""
        self._at(step)
        self.samples.append((step, list(samples)))
        self._event("on_samples", samples, step)

    def on_status(self, status: str, step: int) -> None:
        """The run's status (the page's status line and Stop button follow it)."""
        self._at(step)
        self.status = str(status)
        self._event("on_status", status, step)

    def _event(self, method: str, value: Any, step: int) -> None:
        """Pass an event to the text line, or let the page's next message carry the new state."""
        if self._text is not None:
            getattr(self._text, method)(value, step)
        elif self._sender is not None:
            self._sender.touch()

    def close(self) -> None:
        """The run is over: in a notebook, leave its static picture and summary in place."""
        if self.closed:
            return
        self.closed = True
        self._ended = time.monotonic()
        if self.status in _RUNNING:
            self.status = (self.outcome() if self.outcome is not None else None) or "ended"
            if self.status in _RUNNING:
                self.status = "ended"
        if self._text is not None:
            self._text.on_status(self.status, self.step)
            self._text.close()
            return
        if self._sender is None:
            return
        self._sender.close()
        self.final_svg = self.figure_svg()
        # Replace the widget in place (a background run may end while another cell runs, so
        # no new display). Without the widget's mime type: a reopened notebook has no widget
        # state and would show "Error displaying widget" instead of this picture.
        if self._handle is not None:  # None when IPython had no shell to display in
            self._handle.update(_FinalChart(self.final_svg, self.summary()))
        self.widget.close()

    # ------------------------------------------------------------------------- state
    def _queue(self, payload: Mapping[str, Any], step: int) -> None:
        """Hand the page's series to the sender; any other change goes with its next message."""
        points = {name: float(value) for name, value in payload.items()
                  if name in self.widget_series and isinstance(value, (int, float))}
        if points:
            self._sender.add(step, points)
        else:
            self._sender.touch()

    def _at(self, step: int) -> None:
        """Note the step (the first one starts the clock)."""
        if self._first_step is None:
            self._first_step, self._started = step, time.monotonic()
        self.step = max(self.step, step)

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far, or None."""
        return eta_seconds(self._started, self.step, self.max_steps, self._first_step or 0)

    @property
    def duration(self) -> float:
        """Seconds from the first logged value to the end (or now)."""
        return (self._ended or time.monotonic()) - self._started

    def summary(self) -> str:
        """One line: status, steps and duration, final and best losses, tokens/s."""
        steps = f"{self.step}/{self.max_steps}" if self.max_steps else f"{self.step}"
        parts = [f"{self.status}: {steps} steps in {format_duration(self.duration)}"]
        if self.points["loss"]:
            parts.append(f"final loss {self.points['loss'][-1][1]:.4f}")
        evals = dict(self.points["eval_loss"])
        if self.best_step is not None and self.best_step in evals:
            parts.append(f"best validation loss {evals[self.best_step]:.4f} at step {self.best_step}")
        elif evals:
            parts.append(f"validation loss {self.points['eval_loss'][-1][1]:.4f}")
        if self.best_step is not None and self.best_step not in evals:
            parts.append(f"best checkpoint at step {self.best_step}")
        parts += self._preference_parts()
        speeds = [v for _, v in self.points["tokens_per_second"]]
        if speeds:
            parts.append(f"{sum(speeds) / len(speeds):,.0f} tokens/s")
        return " · ".join(parts)

    def status_line(self) -> str:
        """The line under the live chart: step, epoch, losses, lr, tokens/s, ETA."""
        if self.closed or self.status not in _RUNNING:
            return self.summary()
        parts = [f"step {self.step}" + (f"/{self.max_steps}" if self.max_steps else "")]
        for key, label, fmt in (("epoch", "epoch", "{:.2f}"), ("loss", "loss", "{:.4f}"),
                                ("eval_loss", "validation loss", "{:.4f}"), ("learning_rate", "lr", "{:.2e}"),
                                ("tokens_per_second", "tokens/s", "{:,.0f}")):
            if key in self.latest:
                parts.append(f"{label} {fmt.format(self.latest[key])}")
        parts += self._preference_parts()
        if self.eta is not None:
            parts.append(f"ETA {format_duration(self.eta)}")
        return " · ".join(parts)

    def _preference_parts(self) -> list[str]:
        """A preference run's latest reward margin and accuracy (validation's when there is one)."""
        parts = []
        for split, prefix in (("", ""), ("validation ", "eval_")):
            margin = self.points[f"{prefix}rewards/margins"]
            accuracy = self.points[f"{prefix}rewards/accuracies"]
            if margin:
                parts.append(f"{split}reward margin {margin[-1][1]:.3f}"
                             + (f", accuracy {accuracy[-1][1]:.2f}" if accuracy else ""))
        return parts

    # ------------------------------------------------------------------------- display
    def show(self) -> None:
        """Display the live chart (notebook) in the current cell output; nothing in a terminal."""
        if self._text is not None or self._handle is not None:
            return
        self.widget = chart_widget(self._stop_clicked, self._history)
        self.widget.foreground = self.foreground
        self._sender = PointSender(self._send, self.min_interval)
        self._handle = display(_LiveChart(self.widget), display_id=True)
        self._sync_state()

    def _stop_clicked(self) -> None:
        # The page's button may still be enabled for a moment after the run ended.
        if self.on_stop is not None and self.status in _RUNNING and not self.closed:
            self.on_stop()

    def _history(self) -> dict:
        return {name: [list(p) for p in self.points[name]] for name in self.widget_series}

    def _send(self, points: dict, logged_at: float) -> None:
        """One message of new points, then the state that changed (both on the sender's lock)."""
        if points:
            self.widget.send({"k": "points", "t": logged_at, "d": points})
        self._sync_state()

    def _sync_state(self) -> None:
        widget = self.widget
        with widget.hold_sync():  # one state message for all of them
            widget.max_steps = self.max_steps or 0
            widget.best_step = -1 if self.best_step is None else self.best_step
            widget.status = self.status
            widget.status_line = self.status_line()
            if self.samples and widget.samples.get("step") != self.samples[-1][0]:
                step, rows = self.samples[-1]
                widget.samples = {"step": step, "rows": [
                    {"prompt": str(r.get("prompt", "")), "target": str(r.get("target", "")),
                     "output": str(r.get("output", ""))} for r in rows]}

    def figure_svg(self) -> str:
        """The chart as it stands, as an SVG document (the final picture)."""
        return render_svg(self.points, self.best_step, self.summary())


class _LiveChart:
    """The live widget's display data: the widget view plus a text and HTML fallback."""

    def __init__(self, widget: anywidget.AnyWidget) -> None:
        self.widget = widget

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        data, metadata = self.widget._repr_mimebundle_()
        data["text/plain"] = _FALLBACK
        data["text/html"] = f"<p>{_FALLBACK}</p>"
        return data, metadata


class _FinalChart:
    """The finished run: the chart as SVG plus the summary as text."""

    def __init__(self, svg: str, summary: str) -> None:
        self.svg = svg
        self.summary = summary

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        return {"image/svg+xml": self.svg, "text/plain": self.summary}
