"""Parse YAML safely and remember the line of every key path (``adapter.r`` -> 7).

PyYAML's ``safe_load`` drops positions, so we also ``compose`` the node tree with the SafeLoader
and walk it. Duplicate keys (which PyYAML silently resolves to the last) are reported.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from llm_magic.errors import ConfigErrorItem


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so labels like `yes`/`no`/`on` stay text."""


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
        data = yaml.load(text, Loader=ConfigLoader)  # a SafeLoader: no arbitrary objects
        node = yaml.compose(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        return None, {}, [ConfigErrorItem(
            "", line, f"YAML syntax error: {detail}. Check the indentation and quoting on this line "
                      "(values containing ': ' or starting with '{' need quotes).")]
    lines: dict[str, int] = {}
    problems: list[ConfigErrorItem] = []
    if node is not None:
        _walk(node, "", lines, problems)
    return data, lines, problems


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

