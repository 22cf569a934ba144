"""The user's settings for the runtime: where runs go, how long a stop may take, where caches live.

:class:`Settings` is a small frozen value the session holds (``Session.settings``) and hands to the
feature modules that need one of its fields; none of them reads IPython's config. In a notebook the
``LlmMagics`` configurable (``%config LlmMagics.output_root = "runs"``, or ``ipython_config.py``)
builds one and pushes it in with ``Session.configure``; from Python, call
``get_session().configure(Settings(output_root="runs"))``.

A field left at None falls back to its environment variable, read when it is used, then to the
built-in default (see docs/settings.md for the whole table and the order).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

# SettingsError lives with the other error classes; imported here so this old path keeps working.
from llm_magic.errors import SettingsError

__all__ = ["DEFAULT_OUTPUT_ROOT", "Settings", "SettingsError", "cache_root"]

#: Where run folders go when no setting says otherwise (relative to the kernel's working folder).
DEFAULT_OUTPUT_ROOT = "llm_magic_runs"
#: The environment variable behind :attr:`Settings.cache_dir`.
CACHE_ENV = "LLM_MAGIC_CACHE"


@dataclass(frozen=True)
class Settings:
    """The runtime's user settings; every field has a working default.

    - ``output_root``: the folder run folders go to (``<output_root>/<run id>/checkpoint-N``).
    - ``stop_grace``: seconds the processes of a ``--processes N`` run get, after a stop, to write
      their checkpoint before they are ended; None: the built-in 300 s.
    - ``cache_dir``: llm_magic's cache folder (retrieval indices go to ``<cache_dir>/index``);
      None: ``$LLM_MAGIC_CACHE``, else ``~/.cache/llm_magic``.
    """

    output_root: str = DEFAULT_OUTPUT_ROOT
    stop_grace: float | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        # Checked here too, not only in the traitlets, so the Python API refuses the same values.
        if not isinstance(self.output_root, str) or not self.output_root.strip():
            raise SettingsError(f"output_root = {self.output_root!r}: expected a folder path, e.g. 'llm_magic_runs'.")
        if self.stop_grace is not None and (
                isinstance(self.stop_grace, bool) or not isinstance(self.stop_grace, (int, float))
                or not math.isfinite(self.stop_grace) or self.stop_grace <= 0):
            raise SettingsError(f"stop_grace = {self.stop_grace!r}: expected a positive number of seconds, e.g. 300.")
        if self.cache_dir is not None and (not isinstance(self.cache_dir, str) or not self.cache_dir.strip()):
            raise SettingsError(f"cache_dir = {self.cache_dir!r}: expected a folder path, or None for "
                              f"${CACHE_ENV} / ~/.cache/llm_magic.")


def cache_root(cache_dir: str | None = None) -> Path:
    """llm_magic's cache folder: ``cache_dir`` if given, else ``$LLM_MAGIC_CACHE``, else ``~/.cache/llm_magic``.

    The environment is read at call time, so a variable set after import still counts.
    """
    root = cache_dir or os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "llm_magic"
