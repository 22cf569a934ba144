"""Exceptions that carry a message meant for the notebook user.

Magics turn any :class:`LlmMagicError` into IPython's ``UsageError``: the user sees one clear
screen, not a traceback. Runtime code raises these for user mistakes (bad input, missing
columns, no GPU for a requested feature) and lets genuine bugs propagate as ordinary exceptions.
"""
from __future__ import annotations

from dataclasses import dataclass


class LlmMagicError(Exception):
    """A user-facing error: its message says what went wrong and how to fix it."""


@dataclass(frozen=True)
class ConfigErrorItem:
    """One problem in a config: where it is and what to do about it.

    ``path`` is the dotted key path (``"adapter.r"``, ``"input_features[0].type"``), ``line`` the
    1-based YAML line (``None`` when the config came from a dict), ``message`` says what was
    expected and how to fix it.
    """

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path or '<config>'}: {self.message}"


class ConfigError(LlmMagicError):
    """An invalid config. ``.errors`` lists every problem found, each a :class:`ConfigErrorItem`."""

    def __init__(self, errors: list[ConfigErrorItem]):
        self.errors = list(errors)
        count = len(self.errors)
        header = f"Invalid llm config: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([header, *(f"  - {e}" for e in self.errors)]))
