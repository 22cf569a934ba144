"""Which frontend are we drawing for: a Jupyter kernel (widgets, HTML) or terminal IPython (text)?"""
from __future__ import annotations

import os
import sys

from IPython import get_ipython
from IPython.display import display

FRONTENDS = ("notebook", "terminal")
# The user's setting (``%config LlmMagics.frontend``), pushed in by the magics; None: not set.
_chosen: str | None = None


def set_frontend(name: str | None) -> None:
    """Draw for ``name`` (``"notebook"`` or ``"terminal"``) from now on; None: detect again.

    ``LlmMagics.frontend`` calls this; it takes precedence over ``$LLM_MAGIC_FRONTEND``.
    """
    global _chosen
    if name is not None and name not in FRONTENDS:
        raise ValueError(f"frontend {name!r}: use notebook, terminal or None (detect)")
    _chosen = name


def is_notebook() -> bool:
    """True when running in a Jupyter kernel that can render widgets and HTML.

    The ``LlmMagics.frontend`` setting (:func:`set_frontend`) decides first, then
    ``LLM_MAGIC_FRONTEND=notebook|terminal`` (tests use it to exercise both renderings from one
    process), then the kind of kernel.
    """
    forced = _chosen or os.environ.get("LLM_MAGIC_FRONTEND", "").strip().lower()
    if forced in FRONTENDS:
        return forced == "notebook"
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


#: The MIME type of an ipywidgets view in display data (the standard Jupyter widget protocol).
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def widget_bundle(widget: object, html: str, text: str) -> dict:
    """Display data for ``widget`` with a static fallback in the same output.

    The widget view is what a live kernel's frontend draws; ``text/html`` is what nbconvert,
    GitHub and any frontend without the widget's model show instead, and ``text/plain`` stands in
    for ipywidgets' own ``VBox(children=(...))`` repr.
    """
    return {
        "text/plain": text,
        "text/html": html,
        WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0,
                           "model_id": getattr(widget, "model_id", "")},
    }


# ----------------------------------------------------------------- a live widget and its copy
#: The class a live view carries on the page, and the one its static copy's HTML carries.
LIVE_CLASS, STATIC_CLASS = "llm-magic-live", "llm-magic-static"

# Why two outputs and this style. JupyterLab and Notebook 7 draw a widget view in preference to
# any fallback in the same (trusted) output, so a notebook saved while the widget is live
# reopens with "Error displaying widget: model not found" there. Our own outputs cannot be told
# apart by the kernel once it is gone, but the page can: the view's output holds an element of
# LIVE_CLASS only while a model drew it. The static copy, the next output, carries this style:
# it hides itself beside a live view, and hides the view's output where no view was drawn (a
# reopened notebook, a restarted kernel, nbconvert's HTML), so exactly one of the two shows.
# Only standard CSS (:has, Chromium 105+, Firefox 121+, Safari 15.4+) on JupyterLab's output
# classes, which Notebook 7 and nbconvert's lab template share; no extension, no script.
_STATIC_STYLE = (
    "<style>"
    f".jp-OutputArea-child:has(.{LIVE_CLASS}) + .jp-OutputArea-child:has(.{STATIC_CLASS}) {{display: none}}"
    f".jp-OutputArea-child:not(:has(.{LIVE_CLASS})):has(+ .jp-OutputArea-child .{STATIC_CLASS}) {{display: none}}"
    "</style>"
)
# The view's output once it no longer holds a view: nothing to show (the copy shows it all).
_EMPTY_SLOT = {"text/plain": "", "text/html": "<div class='llm-magic-slot'></div>"}


def splits_static_copy() -> bool:
    """Whether a live widget's static copy goes in an output of its own (see :class:`WidgetDisplay`).

    Not in Colab nor VS Code: their pages have other classes, so the style that shows one of
    the two would not apply and both would show. There the copy stays in the view's output
    (what they draw without the model is theirs to decide). VS Code is told by ``VSCODE_PID``
    in the kernel's environment, as plotly's renderer choice does.
    """
    return "google.colab" not in sys.modules and "VSCODE_PID" not in os.environ


def static_bundle(html: str, text: str) -> dict:
    """Display data of a live widget's static copy: the HTML in ``STATIC_CLASS``, and its style."""
    return {"text/plain": text, "text/html": f"{_STATIC_STYLE}<div class='{STATIC_CLASS}'>{html}</div>"}


class WidgetDisplay:
    """A widget shown live, with a static copy that a saved notebook keeps readable.

    Split (JupyterLab, Notebook 7; see :func:`splits_static_copy`): two outputs, the view
    (``widget`` gets ``LIVE_CLASS``) and then the copy, of which the page shows one: the view
    while it lives, the copy once the notebook is reopened without the kernel or widget state,
    in nbconvert's HTML, and on GitHub (which drops the style and shows the copy below an empty
    line). Not split: one output holding the view and the copy as its fallback
    (:func:`widget_bundle`).
    """

    def __init__(self, widget: object, html: str, text: str, split: bool | None = None) -> None:
        self.widget = widget
        self.split = splits_static_copy() if split is None else split
        if self.split:
            widget.add_class(LIVE_CLASS)  # type: ignore[attr-defined]
            view = {**_EMPTY_SLOT, WIDGET_VIEW_MIME: widget_bundle(widget, "", "")[WIDGET_VIEW_MIME]}
            self.view = display(view, raw=True, display_id=True)
            self.copy = display(static_bundle(html, text), raw=True, display_id=True)
        else:
            self.view = self.copy = display(widget_bundle(widget, html, text), raw=True, display_id=True)

    @property
    def display_ids(self) -> tuple[str, ...]:
        """The display ids of the outputs (one or two)."""
        return tuple(dict.fromkeys((self.view.display_id, self.copy.display_id)))

    def refresh(self, html: str, text: str) -> None:
        """Put the widget's present state into the static copy; the view stays live."""
        if self.split:
            self.copy.update(static_bundle(html, text), raw=True)
        else:
            self.view.update(widget_bundle(self.widget, html, text), raw=True)

    def freeze(self, html: str, text: str) -> None:
        """Leave only the static copy (the widget is closed, or its kernel is going)."""
        if self.split:
            self.view.update(_EMPTY_SLOT, raw=True)
            self.copy.update(static_bundle(html, text), raw=True)
        else:
            self.view.update({"text/plain": text, "text/html": html}, raw=True)
