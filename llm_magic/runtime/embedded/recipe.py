"""The fine-tuning recipe the embedded model needs, applied when a config leaves it unset.

Ludwig's (and our) trainer defaults suit 7B models: learning rate 2e-4, a constant rate. On the
2.6M-parameter ``llm-magic/tiny`` a LoRA adapter with those settings barely moves and every task
collapses to one constant answer (issue 20). The values below were measured with
``tools/embedded_model/learnability.py`` (the table is in docs/embedded-model.md); ``derive``
applies each one only where the user did not set the key, and lists it among the derived values.
"""
from __future__ import annotations

from typing import Any

__all__ = ["TINY_RECIPE", "recipe_reason"]

#: (path under ``trainer``, value). Applied only when that key is unset in the user's config.
TINY_RECIPE: tuple[tuple[str, Any], ...] = (
    ("learning_rate", 0.003),
    # Ludwig's batch 1 is 4x the optimizer steps for no gain on this model, and 4x the time.
    ("batch_size", 4),
    ("learning_rate_scheduler.decay", "linear"),
    ("learning_rate_scheduler.warmup_fraction", 0.05),
)


def recipe_reason(key: str) -> str:
    """The reason shown next to a derived recipe value."""
    return (f"llm-magic/tiny: the embedded model's measured recipe (docs/embedded-model.md); set "
            f"trainer.{key} to override")
