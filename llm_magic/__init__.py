"""llm_magic: notebook-native, declarative fine-tuning and prompting of large language models.

``%load_ext llm_magic`` registers the magics. Everything the magics do is also a plain Python API:

- :func:`load_config` turns a Ludwig ``model_type: llm`` YAML config (text or dict) into an
  :class:`LLMConfig`, or raises :class:`ConfigError` listing every problem at once.
- :class:`Session` is the shared runtime (config, model, data, history); :func:`get_session`
  returns the kernel's one, and :func:`load_session` restores a saved run folder into it.

Importing this package is cheap: torch and transformers load lazily on first use, so that
``%load_ext llm_magic`` stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_magic.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DeviceError,
    HubError,
    LlmMagicError,
    ModelLoadError,
    SettingsError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DeviceError",
    "HubError",
    "LLMConfig",
    "LlmMagicError",
    "ModelLoadError",
    "Session",
    "SettingsError",
    "get_session",
    "load_config",
    "load_session",
    "load_ipython_extension",
    "unload_ipython_extension",
]

if TYPE_CHECKING:  # pragma: no cover
    from llm_magic.runtime.config import LLMConfig, load_config
    from llm_magic.runtime.session import Session, get_session, load_session

# Public names served lazily, so that importing llm_magic imports neither pydantic models
# nor the runtime until they are used.
_LAZY = {
    "LLMConfig": "llm_magic.runtime.config",
    "load_config": "llm_magic.runtime.config",
    "Session": "llm_magic.runtime.session",
    "get_session": "llm_magic.runtime.session",
    "load_session": "llm_magic.runtime.session",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_magic' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def load_ipython_extension(ipython) -> None:
    """Register the llm_magic magics with IPython (``%load_ext llm_magic``)."""
    # lazy: the magics import IPython; `import llm_magic` stays light
    from llm_magic.magics import register_magics

    register_magics(ipython)


def unload_ipython_extension(ipython) -> None:
    """Nothing to tear down: the session stays so a reload keeps the loaded model."""
