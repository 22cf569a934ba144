"""The base of every config model: unknown keys are errors, every field carries help text.

Ludwig silently drops unknown keys (a typo such as ``lora_alpha:`` vanishes); we forbid them so the
loader can report them with a did-you-mean suggestion.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python


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


def fields_set(model: BaseModel, *, defaults: bool = True, keep_type: bool = False) -> dict[str, Any]:
    """The fields of ``model`` that were set (written, or validated in), recursively, as plain data.

    Blocks, lists of blocks and dicts of blocks are walked; other values are JSON-able copies.
    ``defaults=False`` also drops a set value equal to its default (what
    :meth:`LLMConfig.diff_from_defaults` shows); ``True`` keeps it, since the user wrote it (the
    ``%%llm_config`` display). ``keep_type`` keeps every block's ``type``, set or not, so the
    result reads like a config (``adapter: {type: lora, r: 16}``).
    """
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        if keep_type and name == "type":
            out[name] = to_jsonable_python(getattr(model, name))
            continue
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out[name] = fields_set(value, defaults=defaults, keep_type=keep_type)
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            out[name] = [fields_set(v, defaults=defaults, keep_type=keep_type) for v in value]
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            out[name] = {k: fields_set(v, defaults=defaults, keep_type=keep_type) for k, v in value.items()}
        elif defaults or value != field.get_default(call_default_factory=True):
            out[name] = to_jsonable_python(value)
    return out


def block_value(block: BaseModel | Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """``block.key`` of a config block, or ``block[key]`` of its dict form (``default`` when absent).

    For the few readers that take a block either way (``match_rules`` on a raw output feature, a
    feature's preprocessing): a validated :class:`~llm_magic.runtime.config.LLMConfig` is read
    by attribute directly.
    """
    if block is None:
        return default
    if isinstance(block, Mapping):
        return block.get(key, default)
    return getattr(block, key, default)


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
