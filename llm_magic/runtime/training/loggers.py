"""Metric loggers: where a training run reports its numbers (torchtune's ``metric_logging`` style).

A run talks to its loggers only through :class:`MetricLogger` (``log``, ``log_dict``, ``close``),
so the live loss plot widget, a plain text log and the test double are interchangeable.

Names a run logs (``step`` is the optimizer step):

- ``loss``, ``eval_loss``, ``learning_rate``, ``tokens_per_second``, ``epoch``, ``grad_norm``,
  and ``eval_<metric>`` for other validation metrics — numbers, through ``log_dict``;
- ``max_steps`` (total optimizer steps, logged once at the start and again on resume);
- ``best_step`` (the step of the best checkpoint so far, whenever it changes);
- ``samples`` (a list of ``{"prompt", "target", "output"}`` dicts, with ``--sample-every``);
- ``status`` (a short string: ``"running"``, ``"finished"``, ``"stopped"``, ``"failed"``).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Mapping, Protocol, TextIO, runtime_checkable

__all__ = ["MetricLogger", "RecordingLogger", "TextLogger"]


@runtime_checkable
class MetricLogger(Protocol):
    """Receives a run's metrics and events; see the module docstring for the names used."""

    def log(self, name: str, data: Any, step: int) -> None:
        """Record one value (a number, a string or a list of samples) at ``step``."""

    def log_dict(self, payload: Mapping[str, float], step: int) -> None:
        """Record several numbers logged together at ``step``."""

    def close(self) -> None:
        """The run is over: flush and draw the final state."""


class RecordingLogger:
    """Keeps everything it is given, in order; the test double (and handy for scripts).

    ``records`` is a list of ``(name, data, step)``; :meth:`series` picks one metric out.
    """

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, int]] = []
        self.closed = False

    def log(self, name: str, data: Any, step: int) -> None:
        """Record one value."""
        self.records.append((name, data, step))

    def log_dict(self, payload: Mapping[str, float], step: int) -> None:
        """Record each entry of ``payload`` as its own value."""
        for name, value in payload.items():
            self.log(name, value, step)

    def close(self) -> None:
        """Mark the run as finished."""
        self.closed = True

    def series(self, name: str) -> list[tuple[int, Any]]:
        """All ``(step, value)`` pairs logged under ``name``, in logging order."""
        return [(step, data) for key, data, step in self.records if key == name]


class TextLogger:
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

    def log(self, name: str, data: Any, step: int) -> None:
        """Track ``data``; draw when the throttle allows."""
        if self._outcome is not None:
            return
        if self._first_step is None:
            self._first_step = step
            self._started = time.monotonic()
        self._step = max(self._step, step)
        if name == "max_steps":
            self._max_steps = int(data)
        elif name == "status" and data not in ("running", "starting"):
            self._finish(str(data))
        elif name == "best_step":
            self._best_step = int(data)
        elif name == "samples":
            self._newline()
            for sample in data:
                self._write(f"  [step {step}] {sample['prompt']!r} -> {sample['output']!r}\n")
        elif isinstance(data, (int, float)):
            self._latest[name] = float(data)
            self._maybe_draw()

    def log_dict(self, payload: Mapping[str, float], step: int) -> None:
        """Track each entry of ``payload``."""
        for name, value in payload.items():
            self.log(name, value, step)

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
