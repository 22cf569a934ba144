"""Which frontend are we drawing for: a Jupyter kernel (widgets, HTML) or terminal IPython (text)?"""
from __future__ import annotations

import os


def is_notebook() -> bool:
    """True when running in a Jupyter kernel that can render widgets and HTML.

    ``LLM_MAGIC_FRONTEND=notebook|terminal`` overrides the detection (tests use it to exercise
    both renderings from one process).
    """
    forced = os.environ.get("LLM_MAGIC_FRONTEND", "").strip().lower()
    if forced in ("notebook", "terminal"):
        return forced == "notebook"
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
