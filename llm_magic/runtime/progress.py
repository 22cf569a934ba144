"""Progress of the slow steps (model load, retrieval index, tokenizing, evaluation, prediction).

The runtime knows nothing of widgets: it opens a :func:`task` around each step that can take more
than about a second, and whoever listens draws it. ``%load_ext llm_magic`` installs the notebook /
terminal display (``llm_magic.widgets.progress``) as the default listener; a widget that wants
the progress in its own area (the playground's first Generate loads the model) wraps its call in
:func:`listening`. Without a listener nothing is drawn (the plain Python API stays quiet).

The libraries' own tqdm bars (transformers' "Loading weights", datasets' map) are silenced by
:func:`silence_library_bars`: they are a second, differently styled progress system that leaks
into evaluation outputs and, in a notebook, leaves ipywidgets that a saved notebook cannot show.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from llm_magic.runtime.secrets import redact

__all__ = ["ProgressListener", "Task", "listening", "set_default_listener", "silence_library_bars", "task"]


def _redact(text: str) -> str:
    # Descriptions name models ("Loading <base_model>"): a token pasted there must not be shown.
    return redact(text)


@dataclass
class Task:
    """One step in progress: what it does, how far it is (``done`` of ``total``, when countable)."""

    description: str
    total: int | None = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    failed: bool = False
    _listener: Any = None

    @property
    def seconds(self) -> float:
        """Seconds since the step began (until it ended, once it has)."""
        return (self.finished or time.monotonic()) - self.started

    def advance(self, count: int = 1) -> None:
        """``count`` more units are done."""
        self.done += count
        if self._listener is not None:
            self._listener.update(self)

    def __post_init__(self) -> None:
        self.description = _redact(self.description)

    def describe(self, description: str) -> None:
        """The step moved on to a new phase (e.g. from the tokenizer to the weights)."""
        self.description = _redact(description)
        if self._listener is not None:
            self._listener.update(self)


class ProgressListener(Protocol):
    """Draws tasks: told when one begins, moves and ends (``update`` may be called often)."""

    def begin(self, task: Task) -> None: ...

    def update(self, task: Task) -> None: ...

    def end(self, task: Task) -> None: ...


_default: Callable[[], ProgressListener | None] | None = None
_local = threading.local()


def set_default_listener(factory: Callable[[], ProgressListener | None] | None) -> None:
    """Make ``factory()`` the listener of every task opened outside :func:`listening`."""
    global _default
    _default = factory


@contextlib.contextmanager
def listening(listener: ProgressListener) -> Iterator[ProgressListener]:
    """Send the tasks opened in this thread, inside the block, to ``listener``."""
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(listener)
    try:
        yield listener
    finally:
        stack.pop()


def _current_listener() -> ProgressListener | None:
    stack = getattr(_local, "stack", None)
    if stack:
        return stack[-1]
    return _default() if _default is not None else None


@contextlib.contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    """Report a step: ``with task("Tokenizing", total=n) as t: ... t.advance()``.

    The listener is told when it ends, also when it fails (``task.failed``), so a display never
    stays at "running".
    """
    step = Task(description, total)
    listener = _current_listener()
    step._listener = listener
    if listener is not None:
        listener.begin(step)
    try:
        yield step
    except BaseException:
        step.failed = True
        raise
    finally:
        step.finished = time.monotonic()
        if listener is not None:
            listener.end(step)


def silence_library_bars() -> None:
    """Turn off the tqdm bars of transformers, huggingface_hub and datasets (those imported)."""
    # Only libraries already imported: importing datasets just to silence it costs a second.
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars  # already imported (checked above): costs nothing

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging  # already imported (checked above): costs nothing

        hf_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets  # already imported (checked above): costs nothing

        datasets.disable_progress_bars()
