"""Ctrl-C (SIGINT) around the few steps that must not be cut in half.

A KeyboardInterrupt can land between any two bytecodes. Where half an operation would leave
the session or a folder inconsistent (swapping parts into the session, renaming a saved folder
into place, updating a run record), :func:`deferred_interrupts` holds the signal back until the
section ends and then raises it once. Several presses inside one section count as one.

Python delivers signals to the main thread only, and only there can a handler be installed; in
other threads (background training) the sections run as they are, since no KeyboardInterrupt
can land there anyway.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["deferred_interrupts"]


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Run the body with SIGINT deferred; raise one KeyboardInterrupt at its end if any came."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    except (ValueError, OSError):  # pragma: no cover - no signal support (embedded interpreter)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if pressed:
        raise KeyboardInterrupt
