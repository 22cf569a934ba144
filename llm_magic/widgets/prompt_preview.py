"""The prompt-template preview: the rendered prompt of some rows, each substituted part highlighted.

Renders a :class:`~llm_magic.runtime.data.preview.PromptPreview` (the state; built by
``Session.preview``): in a notebook as plain HTML, one collapsible block per row for the selected
row and the next few (the first open), in terminal IPython as plain text.
:func:`maybe_show_preview` is what ``%%llm_config`` calls to show the preview when data is bound.

Why HTML and not a row slider widget: a widget needs its kernel-side model, so a saved notebook
reopened with a new kernel shows "Error displaying widget: model not found" in its place
(JupyterLab draws a widget view in preference to any fallback in the same output). HTML
``<details>`` rows browse without a kernel, in JupyterLab, nbconvert HTML, GitHub, VS Code and Colab.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from IPython.display import display

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data.preview import PromptPreview
from llm_magic.widgets.frontend import is_notebook

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.session import Session

__all__ = ["KIND_COLOURS", "MAX_VALUE_CHARS", "ROWS_SHOWN", "PromptPreview", "PromptPreviewView", "clip",
           "maybe_show_preview", "render_html", "render_rows_html", "render_text"]

#: The most characters of one substituted value (or the target) a preview shows: a 2 MB cell
#: would otherwise print 2 MB into the notebook. The model still sees the whole value.
MAX_VALUE_CHARS = 2000

#: Rows the notebook preview holds (the selected one and the next ones): each is rendered and
#: token-counted up front, so the output stays quick and a saved notebook small.
ROWS_SHOWN = 10

#: Background colour per span kind; fixed template text stays unhighlighted.
KIND_COLOURS = {
    "column": "#cfe8ff",
    "sample": "#d3f5d3",
    "task": "#fff0b3",
    "context": "#f0d9ff",
    "chat": "#e4e4e4",
}
_KIND_LABELS = {"column": "column", "sample": "input sample", "task": "task",
                "context": "retrieved context", "chat": "chat template"}


def _limit(value: int | None) -> str:
    return "none" if value is None else str(value)


def _header(preview: PromptPreview) -> str:
    where = f" of the {preview.split} split" if preview.split else ""
    return f"Prompt preview: row {preview.current_row} of {len(preview)}{where} (0-based)"


def _token_lines(preview: PromptPreview) -> list[str]:
    counts, limits = preview.token_counts, preview.limits
    if counts is None:
        return ["(no tokenizer: token counts unavailable)"]
    return [
        f"prompt  {counts['prompt']:>6}   limit {_limit(limits.max_input)}",
        f"target  {counts['target']:>6}   limit {_limit(limits.max_target)}   (with EOS)",
        f"total   {counts['total']:>6}   limit {_limit(limits.max_total)}",
    ]


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text``, or its first ``limit`` characters and a note saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [clipped: {len(text):,} characters, the first {limit:,} shown]"


def _short(text: str, width: int = 70) -> str:
    one_line = text.replace("\n", "\\n")
    return one_line if len(one_line) <= width else one_line[: width - 3] + "..."


def render_text(preview: PromptPreview) -> str:
    """The preview as plain text (terminal IPython): prompt, parts, target, context, tokens, warnings."""
    prompt = "".join(span.text if span.kind == "template" else clip(span.text) for span in preview.spans)
    lines = [_header(preview), "", "--- prompt ---", prompt, "--- substituted parts ---"]
    for span in preview.spans:
        if span.kind != "template":
            label = f"{{{span.source}}}" if span.source else _KIND_LABELS[span.kind]
            lines.append(f"  {label} [{_KIND_LABELS[span.kind]}]: {_short(span.text)}")
    lines += ["--- target ---", clip(preview.target) if preview.target is not None else "(no target)"]
    if preview.context:
        lines.append(f"--- retrieved context ({len(preview.context)}) ---")
        lines += [f"  {i + 1}. {_short(ex['input'], 50)} -> {_short(ex['output'], 30)}"
                  for i, ex in enumerate(preview.context)]
    lines += ["--- tokens ---", *_token_lines(preview)]
    lines += [f"WARNING: {w}" for w in preview.warnings]
    lines += [f"note: {n}" for n in preview.notes]
    return "\n".join(lines)


def render_html(preview: PromptPreview) -> str:
    """The preview as HTML: the prompt with each substituted part in a coloured span, then details."""
    parts = []
    for span in preview.spans:
        text = html.escape(span.text if span.kind == "template" else clip(span.text))
        if span.kind == "template":
            parts.append(text)
            continue
        title = html.escape(f"{_KIND_LABELS[span.kind]}" + (f": {{{span.source}}}" if span.source else ""),
                            quote=True)
        parts.append(f'<span class="llm-span llm-{span.kind}" title="{title}" '
                     f'style="background:{KIND_COLOURS[span.kind]}">{text}</span>')
    pre = 'style="white-space:pre-wrap;border:1px solid #ccc;padding:6px;margin:4px 0"'
    legend = " ".join(f'<span style="background:{colour};padding:0 4px">{_KIND_LABELS[kind]}</span>'
                      for kind, colour in KIND_COLOURS.items()
                      if any(s.kind == kind for s in preview.spans))
    target = html.escape(clip(preview.target)) if preview.target is not None else "<i>(no target)</i>"
    out = [f"<b>{html.escape(_header(preview))}</b>", f"<div>{legend}</div>",
           f"<pre {pre}>{''.join(parts)}</pre>", "<b>Target</b>", f"<pre {pre}>{target}</pre>"]
    if preview.context:
        items = "".join(f"<li><code>{html.escape(_short(ex['input'], 80))}</code> &rarr; "
                        f"<code>{html.escape(_short(ex['output'], 40))}</code></li>" for ex in preview.context)
        out.append(f"<b>Retrieved context ({len(preview.context)})</b><ol>{items}</ol>")
    out.append("<b>Tokens</b><pre>" + html.escape("\n".join(_token_lines(preview))) + "</pre>")
    out += [f'<div style="color:#b35c00">&#9888; {html.escape(w)}</div>' for w in preview.warnings]
    out += [f'<div style="color:#666">{html.escape(n)}</div>' for n in preview.notes]
    return "\n".join(out)


def render_rows_html(preview: PromptPreview, count: int = ROWS_SHOWN) -> str:
    """The selected row and up to ``count - 1`` rows after it, each a ``<details>`` block (the first open).

    The preview's selected row is the same afterwards.
    """
    first = preview.current_row
    last = min(len(preview), first + max(1, count))
    blocks = []
    try:
        for row in range(first, last):
            preview.select(row)
            # The substituted parts tell rows apart; the template text is the same in every row.
            parts = " | ".join(span.text for span in preview.spans if span.kind in ("column", "sample"))
            summary = html.escape(f"Row {row}: {_short(parts or preview.prompt, 90)}")
            blocks.append(f"<details{' open' if row == first else ''} style='margin:2px 0'>"
                          f"<summary style='cursor:pointer'>{summary}</summary>{render_html(preview)}</details>")
    finally:
        preview.select(first)
    where = f" of the {preview.split} split" if preview.split else ""
    more = (f" <code>%llm_preview --row {last}</code> shows the next ones." if last < len(preview) else "")
    head = (f"<div><b>Prompt preview</b>: rows {first} to {last - 1} of {len(preview)}{html.escape(where)} "
            f"(0-based; click a row to open it).{more}</div>")
    return "<div class='llm-magic-preview'>" + head + "".join(blocks) + "</div>"


class PromptPreviewView:
    """Displays a :class:`PromptPreview`: HTML rows in a notebook, plain text elsewhere."""

    def __init__(self, preview: PromptPreview) -> None:
        self.preview = preview

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        if is_notebook():
            return {"text/plain": render_text(self.preview), "text/html": render_rows_html(self.preview)}
        return {"text/plain": render_text(self.preview)}

    def __repr__(self) -> str:
        return render_text(self.preview)


def maybe_show_preview(session: Session) -> PromptPreviewView | None:
    """Show the preview if the session has both a config and bound data; return the view, or None.

    Meant to run after ``%%llm_config``: a config that does not fit the data (a placeholder with no
    column, ...) is reported in one line instead of failing the config cell.
    """
    if session.config is None or session.data is None:
        return None

    try:
        view = PromptPreviewView(session.preview())
    except LlmMagicError as exc:
        print(f"Prompt preview unavailable: {exc}")
        return None
    display(view)
    return view
