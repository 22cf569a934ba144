"""Generate docs/config-reference.md from the pydantic config models (help text, defaults, ranges).

    python scripts/gen_config_reference.py          # rewrite the file
    python scripts/gen_config_reference.py --check  # exit 1 if the committed file is stale

A test runs ``--check`` logic, so the reference cannot drift from the code.
"""
from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "config-reference.md"

HEADER = """\
# Config reference

Every key of a `%%llm_config` cell, generated from the pydantic models in
`llm_magic/runtime/config/schema/` by `scripts/gen_config_reference.py` (do not edit by hand).
Keys and meanings follow Ludwig's `model_type: llm` configs; **⚑** marks where llm_magic differs
from Ludwig (details in `docs/ludwig-compatibility.md`). Unknown keys are errors (Ludwig drops them).
"""


def _unwrap(tp):
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def type_name(tp) -> str:
    """A short readable type: ``int > 0``-style constraints are shown separately."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        names = list(dict.fromkeys(type_name(a) for a in typing.get_args(tp)))
        if names.count("block") and len(models_in(tp)) > 1:
            names[names.index("block")] = "block (by `type`)"
        return " | ".join(names).replace("NoneType", "null")
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin in (list, tuple, dict):
        args = ", ".join(type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
        return f"{origin.__name__}[{args}]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "block"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def constraints(field) -> str:
    parts = []
    for meta in field.metadata:
        for name, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "min len")):
            value = getattr(meta, name, None)
            if value is not None:
                parts.append(f"{sym} {value}")
    return ", ".join(parts)


def default_text(field) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(block defaults)"
        return f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return ""
    return f"`{json.dumps(field.default, default=str)}`"


def models_in(tp) -> list[type[BaseModel]]:
    """Model classes reachable directly from an annotation (through Optional/Union/list/dict)."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        found = []
        for arg in typing.get_args(tp):
            found += models_in(arg)
        return found
    return [tp] if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def suffix(tp) -> str:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            s = suffix(arg)
            if s:
                return s
    if origin is list:
        return "[]"
    if origin is dict:
        return ".<name>"
    return ""


def document(model: type[BaseModel], path: str, out: list[str], seen: set) -> None:
    hints = typing.get_type_hints(model, include_extras=True)
    title = f"`{path}`" if path else "top level"
    doc = (model.__doc__ or "").strip().splitlines()[0]
    out += [f"## {title}", "", doc, "", "| key | type | default | range | description |", "|---|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra or {}
        mark = " **⚑** " + extra["ludwig_divergence"] if isinstance(extra, dict) and "ludwig_divergence" in extra else ""
        cells = [f"`{name}`", type_name(hints[name]), default_text(field), constraints(field),
                 (field.description or "") + mark]
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        members = models_in(hints[name])
        for member in members:
            sub = f"{path}.{name}" if path else name
            sub += suffix(hints[name])
            if len(members) > 1 and "type" in member.model_fields:
                sub += f" (type: {tag_of(member)})"
            nested.append((member, sub))
    out.append("")
    for member, sub in nested:
        if member in seen:  # shared blocks (postprocessor, adapters.adapters.<name>) are documented once
            continue
        seen.add(member)
        document(member, sub, out, seen)


def tag_of(model: type[BaseModel]) -> str:
    """The ``type`` value that selects ``model`` in a tagged union."""
    hint = _unwrap(typing.get_type_hints(model)["type"])
    args = typing.get_args(hint)
    return str(args[0]) if args else str(model.model_fields["type"].default)


def render() -> str:
    from llm_magic.runtime.config import LLMConfig

    out = [HEADER]
    document(LLMConfig, "", out, {LLMConfig})
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date; run python scripts/gen_config_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
