"""Helpers shared by the training tests (fixtures are in conftest.py)."""
from __future__ import annotations

# Prompt -> answer pairs a tiny LoRA model learns in a few dozen steps.
WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model", "tiny", "runs", "fast", "test"]


def pairs(words):
    """``(prompts, targets)`` of the say-the-word task."""
    return [f"Say {w}:" for w in words], [f" {w}" for w in words]


def trainable_state(model):
    """A detached copy of the trainable weights, by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
