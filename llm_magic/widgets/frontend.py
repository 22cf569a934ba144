"""Which frontend are we drawing for: a Jupyter kernel (widgets, HTML) or terminal IPython (text)?"""
from __future__ import annotations

import os

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


def display_widget(widget: object, html: str, text: str) -> object:
    """Display ``widget`` with its static fallback (see :func:`widget_bundle`); return the handle.

    ``handle.update(widget_bundle(...), raw=True)`` refreshes the fallback (e.g. after each answer)
    so a saved notebook keeps the last state.
    """
    return display(widget_bundle(widget, html, text), raw=True, display_id=True)
