"""Turn pydantic's validation errors into :class:`ConfigErrorItem` s a notebook user can act on.

Pydantic locations contain union tags (``adapter.lora.r``, ``batch_size.constrained-int``); we walk
the user's own data alongside the location to recover the path they wrote (``adapter.r``), merge
the per-member errors of a union into one message, and add did-you-mean hints for unknown keys.
"""
from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from llm_magic.errors import ConfigErrorItem
from llm_magic.runtime.config.schema.trainer import FinetuneTrainer

# Names from PEFT / transformers / other tools that users paste by habit, and ours for them.
KNOWN_ALIASES: dict[str, str] = {
    "lora_alpha": "alpha",
    "lora_dropout": "dropout",
    "bias": "bias_type",
    "lora_r": "r",
    "rank": "r",
    "deltaT": "delta_t",
    "lr": "learning_rate",
    "num_train_epochs": "epochs",
    "num_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "per_device_eval_batch_size": "eval_batch_size",
    "gradient_checkpointing": "enable_gradient_checkpointing",
    "warmup_ratio": "learning_rate_scheduler.warmup_fraction",
    "lr_scheduler_type": "learning_rate_scheduler.decay",
    "max_steps": "train_steps",
    "load_in_4bit": "bits: 4",
    "load_in_8bit": "bits: 8",
    "model": "base_model",
    "model_name": "base_model",
    "max_tokens": "max_new_tokens",
}

_TYPE_WORDS = {
    "int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
    "list": "a list", "dict": "a mapping (`key: value` lines)", "tuple": "a list",
}


def translate(exc: ValidationError, section: str, raw: Any, annotation: Any,
              lines: dict[str, int]) -> list[ConfigErrorItem]:
    """The errors of validating top-level key ``section`` (user value ``raw``) as items."""
    grouped: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for err in exc.errors(include_url=False):
        path, in_union = _clean_path(section, raw, err["loc"])
        grouped.setdefault((path, in_union and err["type"] != "extra_forbidden"), []).append(err)
    items = []
    for (path, _), errs in grouped.items():
        message = _message(path, errs, section, raw, annotation)
        items.append(ConfigErrorItem(path, line_for(path, lines), message))
    return items


def line_for(path: str, lines: dict[str, int]) -> int | None:
    """The line of ``path`` or, for a key that is missing, of the nearest enclosing key."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return lines.get(path)
        path = path[:cut]
    return None


def _clean_path(section: str, raw: Any, loc: tuple) -> tuple[str, bool]:
    """The user-facing path of a pydantic ``loc``, and whether it ended inside a union's members."""
    path, data = section, raw
    for index, seg in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(data, list) and isinstance(seg, int):
            path, data = f"{path}[{seg}]", data[seg] if seg < len(data) else None
        elif isinstance(data, dict):
            key = _find_key(data, seg)
            if key is not _MISSING:
                path, data = f"{path}.{key}" if path else str(key), data[key]
            elif last:
                path, data = f"{path}.{seg}" if path else str(seg), None
            # else: a union tag (the block's `type`); it is not part of the user's path.
        elif not last or data is not None:
            return path, True  # the rest names union members (`int`, `literal['auto']`, ...)
        else:
            path = f"{path}.{seg}"
    return path, False


_MISSING = object()


def _find_key(data: dict, seg: Any) -> Any:
    if seg in data:
        return seg
    for key in data:  # YAML may have made a key an int or bool; pydantic reports it as a string
        if str(key) == str(seg) or (isinstance(key, bool) and str(key).lower() == str(seg)):
            return key
    return _MISSING


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one(err: dict[str, Any]) -> str:
    """A short 'expected ...' phrase for one pydantic error."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind.endswith("_parsing") or kind.endswith("_type"):
        word = kind.rsplit("_", 1)[0]
        if word == "model_attributes" or word == "model" or word == "dataclass":
            return "a mapping (`key: value` lines)"
        return _TYPE_WORDS.get(word, word.replace("_", " "))
    if kind == "literal_error":
        expected = str(ctx.get("expected"))
        return expected if " or " not in expected and "," not in expected else f"one of {expected}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"a number {op} {bound}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} item(s)"
    if kind == "none_required":
        return "null"
    return err["msg"]


def _message(path: str, errs: list[dict[str, Any]], section: str, raw: Any, annotation: Any) -> str:
    first = errs[0]
    kind, ctx = first["type"], first.get("ctx") or {}
    key = path.rsplit(".", 1)[-1]
    if kind == "extra_forbidden":
        return _unknown_key(path, key, section, raw, annotation)
    if kind == "missing":
        return f"required key `{key}` is missing; add it."
    if kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        hint = difflib.get_close_matches(str(ctx.get("tag")), tags, n=1)
        did = f" Did you mean `{hint[0]}`?" if hint else ""
        return f"unknown type `{ctx.get('tag')}`.{did} Supported types: {', '.join(tags)}."
    if kind == "union_tag_not_found":
        return "missing `type`: say which kind of block this is."
    if kind == "value_error":
        return str(ctx.get("error", first["msg"]))
    if kind not in _STANDARD and not kind.endswith(("_type", "_parsing")):
        return first["msg"]  # our own PydanticCustomError messages are already user-facing
    expected = " or ".join(dict.fromkeys(_one(e) for e in errs))
    return f"expected {expected}; got {_got(first.get('input'))}.{_literal_hint(errs)}"


def _literal_hint(errs: list[dict[str, Any]]) -> str:
    """A did-you-mean for a misspelt choice (``adamw8bit`` -> ``adamw_8bit``)."""
    value = errs[0].get("input")
    if not isinstance(value, str):
        return ""
    choices = [c for e in errs if e["type"] == "literal_error"
               for c in re.findall(r"'([^']*)'", str((e.get("ctx") or {}).get("expected", "")))]
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


_STANDARD = {"literal_error", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
             "too_short", "too_long", "none_required"}


def _unknown_key(path: str, key: str, section: str, raw: Any, annotation: Any) -> str:
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    if not parent:
        return f"unknown key `{key}`."
    head, *rest = parent.split(".")
    segments = ([head[head.index("["):]] if "[" in head else []) + rest
    model = _model_at(annotation, segments, raw)
    allowed = list(model.model_fields) if model else []
    alias = KNOWN_ALIASES.get(key)
    hint = ""
    if alias and (alias.split(".")[0].split(":")[0] in allowed or not allowed):
        hint = f" Did you mean `{alias}`?"
    else:
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            hint = f" Did you mean `{close[0]}`?"
        elif allowed:
            hint = f" Valid keys here: {', '.join(allowed)}."
    extra = ""
    if model is not None and model.__name__ == "NoneTrainer":
        if key in FinetuneTrainer.model_fields:
            extra = (" It is a fine-tuning setting: add `type: finetune` to the trainer block (without a "
                     "type the trainer is `none`, inference only).")
            hint = ""
    if model is not None and model.__name__ == "FinetuneTrainer" and key.startswith("packing"):
        extra = " Sequence packing is not available for fine-tuning (Ludwig drops this key silently)."
    return f"unknown key `{key}`.{hint}{extra} (Ludwig would silently ignore it.)"


def _model_at(annotation: Any, segments: list[str], raw: Any) -> type[BaseModel] | None:
    """The model class at ``segments`` below ``annotation``, choosing union members by ``type``."""
    current, data = annotation, raw
    for seg in [*segments, None]:
        current = _pick(current, data)
        if seg is None:
            return current if isinstance(current, type) and issubclass(current, BaseModel) else None
        if "[" in seg:  # list item: name[0]
            name, _, rest = seg.partition("[")
            index = int(rest.rstrip("]"))
            if name:
                current, data = _field(current, name, data)
                current = _pick(current, data)
            current = _args(current)[0] if _args(current) else None
            data = data[index] if isinstance(data, list) and index < len(data) else None
        else:
            current, data = _field(current, seg, data)
    return None


def _field(model: Any, name: str, data: Any) -> tuple[Any, Any]:
    sub = data.get(name) if isinstance(data, dict) else None
    if isinstance(model, type) and issubclass(model, BaseModel) and name in model.model_fields:
        return model.model_fields[name].annotation, sub
    origin = typing.get_origin(model)
    if origin is dict:
        return _args(model)[1], sub
    return None, sub


def _args(tp: Any) -> tuple:
    return typing.get_args(tp)


def _pick(tp: Any, data: Any) -> Any:
    """Unwrap Annotated/Optional/Union down to one class, by the data's ``type`` when ambiguous."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = _args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in _args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(models) > 1 and isinstance(data, dict):
                wanted = str(data.get("type", "")).lower()
                chosen = [m for m in models if "type" in m.model_fields and m.model_fields["type"].default == wanted]
                tp = chosen[0] if chosen else models[0]
            elif models:
                tp = models[0]
            else:
                tp = members[0] if members else None
        else:
            return tp
