"""Exceptions that carry a message meant for the notebook user.

Magics turn any :class:`LlmMagicError` into IPython's ``UsageError``: the user sees one clear
screen, not a traceback. Runtime code raises these for user mistakes (bad input, missing
columns, no GPU for a requested feature) and lets genuine bugs propagate as ordinary exceptions.
"""
from __future__ import annotations

from dataclasses import dataclass


class LlmMagicError(Exception):
    """A user-facing error: its message says what went wrong and how to fix it."""

    def with_note(self, note: str) -> LlmMagicError:
        """A copy of this error, of the same class and with the same attributes (a
        :class:`ConfigError`'s ``.errors``), whose message ends with ``note`` on a new line.

        For code that undoes a step and re-raises: the caller can still catch the narrow class.
        """
        copy = self.__class__.__new__(self.__class__)
        copy.__dict__.update(self.__dict__)
        Exception.__init__(copy, f"{self}\n{note}")
        return copy


class DataError(LlmMagicError):
    """The data cannot be used: unreadable file, empty data or split, a missing or clashing column."""


class ModelLoadError(LlmMagicError):
    """The base model or adapter weights cannot be loaded (bad path, no weights, wrong architecture)."""


class HubError(LlmMagicError):
    """The Hugging Face Hub refused or could not be reached: gated, missing repo, no token, offline."""


class CheckpointError(LlmMagicError):
    """A saved run folder or trainer checkpoint cannot be resumed or loaded (missing, damaged, mismatched)."""


class DeviceError(LlmMagicError):
    """The accelerator cannot do what was asked: no GPU, unsupported dtype, a missing device library."""


class SettingsError(LlmMagicError, ValueError):
    """A setting's value cannot be used (``Settings(...)``, ``%config LlmMagics...``); the message
    names the setting and a value that works. Also a ``ValueError``: a bad value is what it is, so
    ``except ValueError`` around ``Settings(...)`` catches it too."""


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
        super().__init__("\n".join([header, *_compact([f"  - {e}" for e in self.errors])]))


#: At most this many lines of problems in a ConfigError's message (500 unknown keys would
#: otherwise print hundreds of KB); ``.errors`` still holds every one.
MAX_MESSAGE_LINES = 25
#: A single problem's message is clipped to this many characters.
MAX_ITEM_CHARS = 500


def _compact(items: list[str]) -> list[str]:
    """The first problems that fit in :data:`MAX_MESSAGE_LINES`, then one "and K more" line."""
    shown: list[str] = []
    used = 0
    for index, item in enumerate(items):
        if len(item) > MAX_ITEM_CHARS:
            item = item[:MAX_ITEM_CHARS] + " ..."
        height = item.count("\n") + 1
        if used + height > MAX_MESSAGE_LINES and shown:
            rest = len(items) - index
            shown.append(f"  ... and {rest} more problem{'s' if rest != 1 else ''} (fix these first; "
                         "ConfigError.errors lists them all).")
            break
        shown.append(item)
        used += height
    return shown
