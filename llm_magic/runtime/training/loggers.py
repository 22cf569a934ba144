"""Metric loggers: where a training run reports its numbers (torchtune's ``metric_logging`` style).

A run talks to its loggers only through :class:`MetricLogger`, so the live loss plot widget, a
plain text log, the JSON-lines log of a multi-process job and the test double are
interchangeable. Numbers and events travel apart:

- numbers through ``log(name, value, step)`` / ``log_dict(values, step)`` (``step`` is the
  optimizer step): ``loss``, ``eval_loss``, ``learning_rate``, ``tokens_per_second``, ``epoch``,
  ``grad_norm``, ``eval_<metric>`` for other validation metrics, ``test_<metric>`` at the end;
- events through their own typed method: :meth:`~MetricLogger.on_max_steps` (total optimizer
  steps, at the start and again on resume), :meth:`~MetricLogger.on_best_step` (the step of the
  best checkpoint so far, whenever it changes), :meth:`~MetricLogger.on_samples` (a list of
  ``{"prompt", "target", "output"}`` dicts, with ``--sample-every``) and
  :meth:`~MetricLogger.on_status` (``"running"``, then how the run ended: ``"finished"``,
  ``"early_stopped"``, ``"stopped"``, ``"failed"``).

:class:`BaseLogger` implements the whole protocol as no-ops, so a logger overrides only what it
needs. A logger written for the earlier protocol (events sent through ``log`` under the names
``status``, ``max_steps``, ``best_step`` and ``samples``) still works: :func:`metric_loggers`
wraps it so it gets them that way.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Mapping, Protocol, Sequence, TextIO, runtime_checkable

__all__ = ["BaseLogger", "EVENTS", "MetricLogger", "RecordingLogger", "ScalarLogger", "TextLogger", "metric_loggers"]

#: Each event's name (in the earlier protocol, and in a multi-process job's JSON lines) -> its method.
EVENTS = {"max_steps": "on_max_steps", "best_step": "on_best_step", "samples": "on_samples",
          "status": "on_status"}


@runtime_checkable
class MetricLogger(Protocol):
    """Receives a run's numbers and events; see the module docstring."""

    def log(self, name: str, value: float, step: int) -> None:
        """Record one number at ``step``."""

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Record several numbers logged together at ``step``."""

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """The run's total optimizer steps (at its start, and again on resume)."""

    def on_best_step(self, best_step: int, step: int) -> None:
        """The best checkpoint so far is now the one of ``best_step``."""

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """The model's answers (``{"prompt", "target", "output"}``) to a few validation prompts."""

    def on_status(self, status: str, step: int) -> None:
        """The run is ``"running"``, or ended so (``"finished"``, ``"stopped"``, ``"failed"``, ...)."""

    def close(self) -> None:
        """The run is over: flush and draw the final state."""


class BaseLogger:
    """A :class:`MetricLogger` that ignores everything; subclasses override what they need.

    ``log_dict`` goes through ``log`` for each entry.
    """

    def log(self, name: str, value: float, step: int) -> None:
        """Record one number (nothing here)."""

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Record each entry of ``values`` through :meth:`log`."""
        for name, value in values.items():
            self.log(name, value, step)

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """Total optimizer steps (ignored here)."""

    def on_best_step(self, best_step: int, step: int) -> None:
        """A new best checkpoint (ignored here)."""

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """Sample answers (ignored here)."""

    def on_status(self, status: str, step: int) -> None:
        """The run's status (ignored here)."""

    def close(self) -> None:
        """Nothing to flush."""


class ScalarLogger(Protocol):
    """A logger of the earlier protocol: ``log``, ``log_dict`` and ``close`` only; events come
    through ``log`` under their names, with their value (a number, a status, a list of samples)."""

    def log(self, name: str, value: Any, step: int) -> None:
        """Record one number, or an event under its name."""

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Record several numbers logged together."""

    def close(self) -> None:
        """The run is over."""


class _NamedEvents:
    """A :class:`ScalarLogger` wrapped as a :class:`MetricLogger`: it gets events through ``log``
    under their names, as it did before."""

    def __init__(self, inner: ScalarLogger) -> None:
        self.inner = inner

    def log(self, name: str, value: float, step: int) -> None:
        """Forward one number."""
        self.inner.log(name, value, step)

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Forward several numbers."""
        self.inner.log_dict(values, step)

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """Forward as ``log("max_steps", ...)``."""
        self.inner.log("max_steps", max_steps, step)

    def on_best_step(self, best_step: int, step: int) -> None:
        """Forward as ``log("best_step", ...)``."""
        self.inner.log("best_step", best_step, step)

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """Forward as ``log("samples", ...)``."""
        self.inner.log("samples", samples, step)

    def on_status(self, status: str, step: int) -> None:
        """Forward as ``log("status", ...)``."""
        self.inner.log("status", status, step)

    def close(self) -> None:
        """Forward."""
        self.inner.close()


def metric_loggers(loggers: Iterable[MetricLogger | ScalarLogger]) -> list[MetricLogger]:
    """``loggers`` as :class:`MetricLogger` s: one without the typed event methods is wrapped."""
    return [logger if all(hasattr(logger, method) for method in EVENTS.values()) else _NamedEvents(logger)
            for logger in loggers]


class RecordingLogger(BaseLogger):
    """Keeps everything it is given, in order; the test double (and handy for scripts).

    ``records`` is a list of ``(name, value, step)``, events under their names (:data:`EVENTS`);
    :meth:`series` picks one metric or event out.
    """

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, int]] = []
        self.closed = False

    def log(self, name: str, value: Any, step: int) -> None:
        """Record one value."""
        self.records.append((name, value, step))

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """Record as ``max_steps``."""
        self.records.append(("max_steps", max_steps, step))

    def on_best_step(self, best_step: int, step: int) -> None:
        """Record as ``best_step``."""
        self.records.append(("best_step", best_step, step))

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """Record as ``samples``."""
        self.records.append(("samples", samples, step))

    def on_status(self, status: str, step: int) -> None:
        """Record as ``status``."""
        self.records.append(("status", status, step))

    def close(self) -> None:
        """Mark the run as finished."""
        self.closed = True

    def series(self, name: str) -> list[tuple[int, Any]]:
        """All ``(step, value)`` pairs logged under ``name``, in logging order."""
        return [(step, data) for key, data, step in self.records if key == name]


class TextLogger(BaseLogger):
    """A one-line progress display for terminal IPython and scripts.

    Rewrites one line in place (``\\r``, padded so a shorter line leaves no leftovers of a longer
    one) at most every ``min_interval`` seconds; the end of the run (a final ``status`` or
    :meth:`close`, whichever comes first) draws it once more, without the ETA and with the
    outcome and duration, and ends it. Only ``--sample-every`` answers get lines of their own.
    """

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.5) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.min_interval = min_interval
        self._last_draw = 0.0
        self._latest: dict[str, float] = {}
        self._step = 0
        self._max_steps: int | None = None
        self._best_step: int | None = None
        self._started = time.monotonic()
        self._first_step: int | None = None  # a resumed run starts past 0: ETA counts from here
        self._pending_line = False
        self._width = 0  # of the line on screen, to blank what a shorter line does not cover
        self._outcome: str | None = None  # set once the final line is drawn

    def _at(self, step: int) -> bool:
        """Note ``step``; False once the final line is drawn (nothing changes after it)."""
        if self._outcome is not None:
            return False
        if self._first_step is None:
            self._first_step = step
            self._started = time.monotonic()
        self._step = max(self._step, step)
        return True

    def log(self, name: str, value: Any, step: int) -> None:
        """Track a number; draw when the throttle allows."""
        if not self._at(step):
            return
        if isinstance(value, (int, float)):
            self._latest[name] = float(value)
            self._maybe_draw()

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Track each entry of ``values``."""
        for name, value in values.items():
            self.log(name, value, step)

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """Show ``step/max_steps`` from now on."""
        if self._at(step):
            self._max_steps = int(max_steps)

    def on_best_step(self, best_step: int, step: int) -> None:
        """Show the best checkpoint's step."""
        if self._at(step):
            self._best_step = int(best_step)

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """One line per answer, under the progress line."""
        if self._at(step):
            self._newline()
            for sample in samples:
                self._write(f"  [step {step}] {sample['prompt']!r} -> {sample['output']!r}\n")

    def on_status(self, status: str, step: int) -> None:
        """A final status draws the final line."""
        if self._at(step) and status not in ("running", "starting"):
            self._finish(str(status))

    def close(self) -> None:
        """End the line (once), if no final status did already."""
        if self._outcome is None:
            self._finish("ended")

    # ------------------------------------------------------------------------- drawing
    def progress_line(self) -> str:
        """The current one-line summary (step, loss, lr, tokens/s, ETA; outcome once ended)."""
        parts = [f"step {self._step}" + (f"/{self._max_steps}" if self._max_steps else "")]
        for key, label, fmt in (
            ("epoch", "epoch", "{:.2f}"),
            ("loss", "loss", "{:.4f}"),
            ("eval_loss", "eval_loss", "{:.4f}"),
            ("learning_rate", "lr", "{:.2e}"),
            # Preference runs (dpo/kto/orpo): TRL's reward margin and accuracy.
            ("rewards/margins", "margin", "{:.3f}"),
            ("rewards/accuracies", "acc", "{:.2f}"),
            ("eval_rewards/margins", "eval_margin", "{:.3f}"),
            ("tokens_per_second", "tok/s", "{:.0f}"),
        ):
            if key in self._latest:
                parts.append(f"{label} {fmt.format(self._latest[key])}")
        if self._best_step is not None:
            parts.append(f"best step {self._best_step}")
        if self._outcome is not None:
            parts.append(f"{self._outcome} in {format_duration(time.monotonic() - self._started)}")
        else:
            eta = eta_seconds(self._started, self._step, self._max_steps, self._first_step or 0)
            if eta is not None:
                parts.append(f"ETA {format_duration(eta)}")
        return " | ".join(parts)

    def _finish(self, outcome: str) -> None:
        self._outcome = outcome
        self._draw()
        self._newline()

    def _maybe_draw(self) -> None:
        now = time.monotonic()
        if now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        line = self.progress_line()
        self._write("\r" + line.ljust(self._width if self._pending_line else 0))
        self._width = len(line)
        self._pending_line = True

    def _newline(self) -> None:
        if self._pending_line:
            self._write("\n")
            self._pending_line = False
            self._width = 0

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def eta_seconds(started: float, step: int, max_steps: int | None, first_step: int = 0) -> float | None:
    """Seconds left at the average pace since ``first_step`` (None until a step was made)."""
    done = step - first_step
    if not max_steps or done <= 0:
        return None
    elapsed = time.monotonic() - started
    return max(0.0, elapsed / done * (max_steps - step))


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
