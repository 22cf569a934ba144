"""What generation keeps in a session (``Session.generation``): the last results, a retriever cache."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["GenerationState"]


@dataclass
class GenerationState:
    """Generation's part of the session.

    ``last`` holds the last ``GenerationResults`` (so a stopped generation's text is not lost);
    ``retriever`` caches ``(config, data, retriever)`` for few-shot prompts, rebuilt when either
    the config or the bound data object changes.
    """

    last: Any = None
    retriever: tuple[Any, Any, Any] | None = None
