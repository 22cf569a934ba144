"""Cross-field rules, checked together after the fields themselves validated.

Each rule is a small function registered with :func:`~.registry.rule`, naming the top-level
sections it reads. A rule runs only when all of its sections validated, so one broken block does
not cause a cascade of follow-up errors, while independent problems are all reported at once
(torchtune's ``_validate.py`` style).

The registry lives in :mod:`.registry`; importing this package imports every rule module, which
registers its rules, so :func:`check_rules` always sees all of them.
"""
from __future__ import annotations

from llm_magic.runtime.config.rules import (  # noqa: F401 - imported to register their rules
    features,
    model,
    preprocessing,
    prompt,
    training,
    unsupported,
)
from llm_magic.runtime.config.rules.registry import RULES, Problem, RuleFn, check_rules, rule

__all__ = ["RULES", "Problem", "RuleFn", "check_rules", "rule"]
