"""The one progress display: what a slow step is doing and, where it can count, how far it is.

:class:`ProgressDisplay` listens to the runtime's :mod:`llm_magic.runtime.progress` tasks.

- In a notebook each task is ONE output of plain HTML (``display(..., display_id=True)``, updated
  in place): a saved notebook, nbconvert HTML and GitHub show its last state, with no widget
  model to go missing (tqdm's notebook bars are ipywidgets and show "Error displaying widget"
  once the kernel is gone).
- In a terminal each task is one line rewritten in place (``\\r``, padded so a shorter line leaves
  no leftovers) and ended exactly once, when the task ends.

:func:`html_line` and :func:`text_line` draw one task; the playground uses them in its own area.
"""
from __future__ import annotations

import html
import sys
import time
from typing import Any, TextIO

from IPython.display import display

from llm_magic.runtime.progress import set_default_listener
from llm_magic.widgets.frontend import is_notebook

__all__ = ["ProgressDisplay", "html_line", "install", "text_line"]

#: Seconds between two redraws of one task (a redraw per batch would flood the output).
MIN_INTERVAL = 0.25
_BAR_WIDTH = 24


def _counts(task: Any) -> str:
    if not task.total:
        return ""
    share = min(task.done / task.total, 1.0)
    return f"{task.done}/{task.total} ({share:.0%})"


def text_line(task: Any) -> str:
    """The task as one terminal line: description, a bar when it counts, seconds."""
    if task.finished is not None:
        outcome = "failed" if task.failed else "done"
        counts = f" {task.done}/{task.total}" if task.total else ""
        return f"{task.description}: {outcome}{counts} in {task.seconds:.1f} s"
    parts = [f"{task.description} …"]
    if task.total:
        filled = int(_BAR_WIDTH * min(task.done / task.total, 1.0))
        parts.append("[" + "#" * filled + "." * (_BAR_WIDTH - filled) + "] " + _counts(task))
    parts.append(f"{task.seconds:.1f} s")
    return " ".join(parts)


def html_line(task: Any) -> str:
    """The task as a line of HTML: a bar (CSS, no widget) when it counts, else a spinner-less text."""
    text = html.escape(text_line(task))
    colour = "#b00" if task.failed else ("#2a7" if task.finished is not None else "#48c")
    bar = ""
    if task.total:
        share = 100 * min(task.done / task.total, 1.0)
        bar = (f"<div style='display:inline-block;width:12em;height:0.7em;border:1px solid #aaa;"
               f"margin-right:0.6em;vertical-align:middle'><div style='width:{share:.1f}%;height:100%;"
               f"background:{colour}'></div></div>")
    return (f"<div class='llm-magic-progress' style='font-family:monospace;font-size:90%;color:#444'>"
            f"{bar}<span>{text}</span></div>")


class ProgressDisplay:
    """A :class:`~llm_magic.runtime.progress.ProgressListener` drawing into the cell's output."""

    def __init__(self, notebook: bool | None = None, stream: TextIO | None = None,
                 min_interval: float = MIN_INTERVAL) -> None:
        self.notebook = is_notebook() if notebook is None else notebook
        self.stream = stream
        self.min_interval = min_interval
        self._handles: dict[int, Any] = {}
        self._drawn: dict[int, float] = {}
        self._open_line: int | None = None  # the task whose terminal line is not ended yet
        self._width = 0

    def begin(self, task: Any) -> None:
        """Show the task (its output in a notebook, its line in a terminal)."""
        if self.notebook:
            self._handles[id(task)] = display(self._bundle(task), raw=True, display_id=True)
        else:
            self._end_open_line()  # a task inside another: the outer line stays as it was
            self._write_line(task)
        self._drawn[id(task)] = time.monotonic()

    def update(self, task: Any) -> None:
        """Redraw the task, at most every ``min_interval`` seconds."""
        now = time.monotonic()
        if now - self._drawn.get(id(task), 0.0) < self.min_interval:
            return
        self._drawn[id(task)] = now
        self._redraw(task)

    def end(self, task: Any) -> None:
        """Draw the final state once and end the task's line."""
        self._redraw(task)
        self._handles.pop(id(task), None)
        self._drawn.pop(id(task), None)
        if not self.notebook and self._open_line == id(task):
            self._end_open_line()

    # ------------------------------------------------------------------------ drawing
    def _redraw(self, task: Any) -> None:
        if self.notebook:
            handle = self._handles.get(id(task))
            if handle is not None:
                handle.update(self._bundle(task), raw=True)
        elif self._open_line in (None, id(task)):
            self._write_line(task)

    @staticmethod
    def _bundle(task: Any) -> dict[str, str]:
        return {"text/plain": text_line(task), "text/html": html_line(task)}

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def _write_line(self, task: Any) -> None:
        line = text_line(task)
        # Pad over the previous draw: "\r" alone leaves its tail ("ETA 0:001").
        padding = " " * max(0, self._width - len(line))
        self._out().write("\r" + line + padding)
        self._out().flush()
        self._width = len(line)
        self._open_line = id(task)

    def _end_open_line(self) -> None:
        if self._open_line is not None:
            self._out().write("\n")
            self._out().flush()
            self._open_line = None
            self._width = 0


_display: ProgressDisplay | None = None


def _default_listener() -> ProgressDisplay:
    # One display per frontend kind; the kind is read per task, so LLM_MAGIC_FRONTEND set later
    # (tests) still applies.
    global _display
    notebook = is_notebook()
    if _display is None or _display.notebook != notebook:
        _display = ProgressDisplay(notebook=notebook)
    return _display


def install() -> None:
    """Make :class:`ProgressDisplay` draw every runtime task (``%load_ext llm_magic`` calls this)."""
    set_default_listener(_default_listener)
