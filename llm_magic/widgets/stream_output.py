"""Show generated text as it streams: one display updated in place, or plain printed text.

:class:`StreamOutput` receives generation progress (it implements the runtime's
``GenerationListener``: ``start``, ``text``, ``done``) and shows it:

- in Jupyter, as ONE display (``display(..., display_id=True)``) whose content is replaced with
  ``handle.update(...)``, at most ``1 / min_interval`` times a second (rendering HTML for every
  token would cost more than generating it), always once more at the end of each answer;
- in terminal IPython, by printing each new piece of text as it arrives.

Several answers (``--n``, ``--compare``) are panes of one grid: base and fine-tuned side by side.
"""
from __future__ import annotations

import html
import sys
import time
from typing import Any

from IPython.display import display

from llm_magic.widgets.frontend import is_notebook

__all__ = ["StreamOutput"]


class StreamOutput:
    """Streams one or more generated answers into the cell's output.

    ``columns`` is the number of panes per row in the notebook (2 for a comparison).
    """

    #: Minimum seconds between two display updates in the notebook (tests set it to 0).
    min_interval: float = 0.1

    def __init__(self, columns: int = 1, notebook: bool | None = None) -> None:
        self.columns = max(1, columns)
        self.notebook = is_notebook() if notebook is None else notebook
        self.titles: list[str] = []
        self.texts: list[str] = []
        self.footers: list[str] = []
        self.handle: Any = None
        self.updates = 0
        self._last_update = 0.0
        self._dirty = False
        self._printed: list[str] = []
        self._active: int | None = None

    # ------------------------------------------------------------------------ listener API
    def start(self, titles: list[str]) -> None:
        """Prepare one pane per title and show the (empty) output."""
        self.titles = list(titles)
        self.texts = ["" for _ in titles]
        self.footers = ["" for _ in titles]
        self._printed = ["" for _ in titles]
        if self.notebook:
            self.handle = display(self._bundle(), raw=True, display_id=True)
            # The first display counts as an update: the throttle interval starts now (a zero start
            # would let the first token through whenever the machine's uptime exceeds the interval).
            self._last_update = time.monotonic()

    def text(self, index: int, text: str) -> None:
        """The answer ``index`` now reads ``text`` (the whole text so far)."""
        self.texts[index] = text
        if self.notebook:
            self._dirty = True
            if time.monotonic() - self._last_update >= self.min_interval:
                self._refresh()
        else:
            self._print(index, text)

    def done(self, index: int, result: Any) -> None:
        """The answer ``index`` is complete: show its final text and statistics."""
        self.texts[index] = result.text
        self.footers[index] = result.summary() if hasattr(result, "summary") else ""
        if self.notebook:
            self._refresh()
        else:
            self._print(index, result.text)
            sys.stdout.write(f"\n[{self.footers[index]}]\n")
            sys.stdout.flush()
            self._active = None

    # ------------------------------------------------------------------------ notebook
    def _refresh(self) -> None:
        if self.handle is None:
            return
        self.handle.update(self._bundle(), raw=True)
        self.updates += 1
        self._last_update = time.monotonic()
        self._dirty = False

    def _bundle(self) -> dict[str, str]:
        return {"text/html": self.html(), "text/plain": self.plain()}

    def html(self) -> str:
        """The panes as HTML: a grid of ``columns`` columns, each pane a title, text, statistics."""
        cells = []
        for title, text, footer in zip(self.titles, self.texts, self.footers):
            head = f"<div style='font-weight:bold'>{html.escape(title)}</div>" if title else ""
            foot = f"<div style='color:#888;font-size:smaller'>{html.escape(footer)}</div>" if footer else ""
            cells.append(
                "<div style='border:1px solid #ddd;padding:4px;min-width:0'>"
                f"{head}<pre style='white-space:pre-wrap;margin:0'>{html.escape(text)}</pre>{foot}</div>"
            )
        return (
            f"<div style='display:grid;grid-template-columns:repeat({self.columns},1fr);gap:6px'>"
            f"{''.join(cells)}</div>"
        )

    def plain(self) -> str:
        """The panes as plain text, one after another."""
        parts = []
        for title, text, footer in zip(self.titles, self.texts, self.footers):
            block = (f"--- {title} ---\n" if title else "") + text + (f"\n[{footer}]" if footer else "")
            parts.append(block)
        return "\n\n".join(parts)

    # ------------------------------------------------------------------------ terminal
    def _print(self, index: int, text: str) -> None:
        if self._active != index:
            self._active = index
            title = self.titles[index] if index < len(self.titles) else ""
            if title:
                sys.stdout.write(f"\n--- {title} ---\n")
        printed = self._printed[index]
        if text.startswith(printed):
            sys.stdout.write(text[len(printed):])
        else:  # the final decode differs from the streamed pieces: show the whole answer again
            sys.stdout.write("\n" + text)
        self._printed[index] = text
        sys.stdout.flush()
