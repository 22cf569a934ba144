"""Parse YAML safely and remember the line of every key path (``adapter.r`` -> 7).

PyYAML's ``safe_load`` drops positions, so we compose the node tree once, read the line of every
key from it and then construct the data from that same tree (one parse, not two). The loader is
libyaml's ``CSafeLoader`` when PyYAML was built with it (several times faster than the pure-Python
``SafeLoader``, which is the fallback); both are safe loaders: plain data only, no Python objects.
Duplicate keys (which PyYAML silently resolves to the last) are reported.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from llm_magic.errors import ConfigErrorItem


# Security: only these two loaders (SafeConstructor), never yaml.Loader / FullLoader / UnsafeLoader.
_SAFE_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigLoader(_SAFE_BASE):  # type: ignore[misc, valid-type]
    """A safe loader with YAML 1.2 booleans: only true/false, so labels like `yes`/`no`/`on` stay text."""


# libyaml's parser still resolves tags through the Python Resolver, so the same table works for both.
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def join_path(parent: str, key: Any) -> str:
    """Append a key or list index to a dotted path: ``a`` + ``b`` -> ``a.b``; ``a`` + 0 -> ``a[0]``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def parse_yaml(text: str) -> tuple[Any, dict[str, int], list[ConfigErrorItem]]:
    """``(data, path -> line, problems)``; data is None when the text is not valid YAML."""
    try:
        node, data = _compose_and_construct(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        if isinstance(exc, yaml.constructor.ConstructorError):
            return None, {}, [ConfigErrorItem(
                "", line, f"YAML tag not allowed: {detail}. A config holds plain data only (text, "
                          "numbers, true/false, lists, mappings); remove the `!!` tag.")]
        return None, {}, [ConfigErrorItem(
            "", line, f"YAML syntax error: {detail}. Check the indentation and quoting on this line "
                      "(values containing ': ' or starting with '{' need quotes).")]
    lines: dict[str, int] = {}
    problems: list[ConfigErrorItem] = []
    if node is not None:
        _walk(node, "", lines, problems)
    return data, lines, problems


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data built from it, from a single parse."""
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: str, lines: dict[str, int], problems: list[ConfigErrorItem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            child = f"{path}.{key}" if path else str(key)
            line = key_node.start_mark.line + 1
            if child in seen:
                problems.append(ConfigErrorItem(
                    child, line, f"duplicate key `{key}` (first at line {lines[child]}); YAML would keep "
                                 "only the last one. Remove one of them."))
            seen.add(child)
            lines[child] = line
            _walk(value_node, child, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, problems)

