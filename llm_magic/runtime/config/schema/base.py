"""The base of every config model: unknown keys are errors, every field carries help text.

Ludwig silently drops unknown keys (a typo such as ``lora_alpha:`` vanishes); we forbid them so the
loader can report them with a did-you-mean suggestion.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ConfigModel(BaseModel):
    """Base for all config sections: unknown keys are errors (the loader adds did-you-mean hints)."""

    model_config = ConfigDict(extra="forbid")


def F(default: Any = ..., help: str = "", *, diverges: str | None = None, **kwargs: Any) -> Any:
    """A pydantic ``Field`` with help text and, when we differ from Ludwig, a divergence note.

    The divergence note ends up in ``docs/config-reference.md`` (see
    ``scripts/gen_config_reference.py``), so every difference from Ludwig is visible per key.
    """
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    if diverges:
        extra["ludwig_divergence"] = diverges
    return Field(default, description=help, json_schema_extra=extra or None, **kwargs)


def bare_type_to_dict(value: Any) -> Any:
    """Turn a bare string such as ``adapter: lora`` into ``{"type": "lora"}``."""
    if isinstance(value, str):
        return {"type": value}
    return value


def lower_type(value: Any) -> Any:
    """Lower-case a block's ``type`` (Ludwig lower-cases type names before lookup)."""
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return {**value, "type": value["type"].lower()}
    return value


def type_block(value: Any) -> Any:
    """Normalise a type-dispatched block: a bare string becomes ``{type: ...}``; type lower-cased."""
    return lower_type(bare_type_to_dict(value))
