"""The rules registry: :func:`rule` registers a cross-field check, :func:`check_rules` runs them.

The rule modules of this package register themselves on import; importing
:mod:`llm_magic.runtime.config.rules` (which Python does before this module) imports all of them.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Iterable

from llm_magic.errors import ConfigErrorItem

# (key path, message) or (key path, message, path whose YAML line to show when the key is absent)
Problem = tuple[str, ...]
RuleFn = Callable[[SimpleNamespace], Iterable[Problem]]

RULES: list[tuple[tuple[str, ...], RuleFn]] = []


def rule(*sections: str) -> Callable[[RuleFn], RuleFn]:
    """Register a rule that reads the given top-level sections (``raw`` is always available)."""

    def register(fn: RuleFn) -> RuleFn:
        RULES.append((sections, fn))
        return fn

    return register


def check_rules(sections: dict[str, Any], raw: dict[str, Any],
                line_for: Callable[[str], int | None]) -> list[ConfigErrorItem]:
    """Run every rule whose sections are all valid; return the problems found."""
    ns = SimpleNamespace(raw=raw, **sections)
    problems: list[ConfigErrorItem] = []
    for needs, fn in RULES:
        if all(name in sections for name in needs):
            for path, message, *anchor in fn(ns):
                line = line_for(path)
                if line is None and anchor:
                    line = line_for(anchor[0])
                problems.append(ConfigErrorItem(path, line, message))
    return problems
