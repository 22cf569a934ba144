"""The config language behind ``%%llm_config``: Ludwig ``model_type: llm`` configs, typed and checked.

- :func:`load_config` (YAML text or dict -> :class:`LLMConfig`, or :class:`~llm_magic.ConfigError`
  listing every problem with its key path and YAML line),
- :func:`resolve_preset` (Ludwig's base-model short names),
- :func:`fields_set` (the keys a config or block had set, as plain data),
- the typed sections in :mod:`llm_magic.runtime.config.schema`.

Validation is offline and instant: it never contacts the Hugging Face Hub.
"""
from __future__ import annotations

from llm_magic.runtime.config.loader import load_config
from llm_magic.runtime.config.presets import EMBEDDED_MODEL, resolve_preset
from llm_magic.runtime.config.schema.adapters import ADAPTER_TYPES
from llm_magic.runtime.config.schema.base import block_value, fields_set
from llm_magic.runtime.config.schema.root import LLMConfig

__all__ = ["ADAPTER_TYPES", "EMBEDDED_MODEL", "LLMConfig", "block_value", "fields_set", "load_config", "resolve_preset"]
