"""Cross-field rules, checked together after the fields themselves validated.

Each rule is a small function registered with :func:`rule`, naming the top-level sections it
reads. A rule runs only when all of its sections validated, so one broken block does not cause a
cascade of follow-up errors, while independent problems are all reported at once (torchtune's
``_validate.py`` style).
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
    # Importing the rule modules registers their rules.
    from llm_magic.runtime.config.rules import (  # noqa: F401
        features, model, preprocessing, prompt, training, unsupported)

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
