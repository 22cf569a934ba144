"""Helpers shared by the magics: user-error translation, ``--data`` resolution, the settings."""
from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from IPython.core.error import UsageError

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.secrets import redact

if TYPE_CHECKING:  # pragma: no cover - types only
    from IPython.core.interactiveshell import InteractiveShell

    from llm_magic.magics.settings_magics import LlmMagics
    from llm_magic.runtime.data.sources import DataSource

F = TypeVar("F", bound=Callable[..., Any])

# Commands whose interruption concerns a training run (the others just did not happen).
_TRAINING_COMMANDS = ("llm_train", "llm_status", "llm_eval")


def user_errors(func: F) -> F:
    """Turn :class:`LlmMagicError` (and Ctrl-C) into ``UsageError``: one screen, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LlmMagicError as exc:
            # Messages may quote config values or library errors: never a Hugging Face token.
            raise UsageError(redact(str(exc))) from None
        except KeyboardInterrupt:
            # One line, no traceback: every command either completed or left the session as it
            # was (see Session), so there is nothing more to say.
            hint = (" %llm_status shows where training stands." if func.__name__ in _TRAINING_COMMANDS
                    else "")
            raise UsageError(f"%{func.__name__}: interrupted. Nothing was left half-done.{hint}") from None

    return wrapper  # type: ignore[return-value]


def llm_settings(shell: InteractiveShell | None) -> LlmMagics | None:
    """The shell's ``LlmMagics`` instance (the user's settings); None before ``%load_ext llm_magic``."""
    manager = getattr(shell, "magics_manager", None)
    registry = getattr(manager, "registry", None) or {}
    return registry.get("LlmMagics") if "LlmMagics" in registry else None


def resolve_data_arg(shell: InteractiveShell | None, spec: str | None) -> DataSource | None:
    """Resolve a ``--data X`` flag: a variable in the user's namespace, else a file path.

    Returns the object (DataFrame, ``datasets.Dataset``, ...) or the path string; None when no
    flag was given. A name that is neither a variable nor an existing file is a clear error.
    """
    if spec is None:
        return None
    spec = spec.strip().strip("'\"")
    namespace = getattr(shell, "user_ns", {}) or {}
    if spec in namespace:
        return namespace[spec]
    if os.path.exists(os.path.expanduser(spec)):
        return os.path.expanduser(spec)
    variables = sorted(
        name for name, value in namespace.items()
        if not name.startswith("_") and type(value).__name__ in ("DataFrame", "Dataset", "DatasetDict")
    )
    hint = f" Data variables in the notebook: {', '.join(variables)}." if variables else ""
    raise LlmMagicError(
        f"--data {spec}: no notebook variable and no file of that name.{hint} Pass the name of a "
        "pandas DataFrame or datasets.Dataset, or a path to a CSV, TSV, JSON, JSONL or Parquet file."
    )
