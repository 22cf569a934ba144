"""The fine-tuning recipe the embedded model needs, applied when a config leaves it unset.

Ludwig's (and our) trainer defaults suit 7B models: learning rate 2e-4, a constant rate. On the
2.6M-parameter ``llm-magic/tiny`` a LoRA adapter with those settings barely moves and every task
collapses to one constant answer (issue 20). The values below were measured with
``tools/embedded_model/learnability.py`` (the table is in docs/embedded-model.md); ``derive``
applies each one only where the user did not set the key, and lists it among the derived values.
"""
from __future__ import annotations

from typing import Any

__all__ = ["TINY_PREFERENCE_RECIPE", "TINY_RECIPE", "recipe_for", "recipe_reason"]

#: (path under ``trainer``, value). Applied only when that key is unset in the user's config.
TINY_RECIPE: tuple[tuple[str, Any], ...] = (
    # The copy-curriculum build (docs/embedded-model.md): at 3e-3 for 3 epochs a LoRA fine-tune
    # overwrites much of its copying and counting (learnability.py: copy-a-city 53.8 %, counting
    # 22.5 %); at 1e-3 for 5 epochs 87.5 % and 100 %, classification and the animal task 100 %.
    ("learning_rate", 0.001),
    # 1e-3 for the general 3 epochs leaves the 22-animal task at 51 %; 5 epochs reach 100 %.
    ("epochs", 5),
    # Ludwig's batch 1 is 4x the optimizer steps for no gain on this model, and 4x the time.
    ("batch_size", 4),
    ("learning_rate_scheduler.decay", "linear"),
    ("learning_rate_scheduler.warmup_fraction", 0.05),
)


#: The recipe of the preference trainers (``dpo``, ``kto``, ``orpo``): the earlier one, lr 3e-3 at
#: the general 3 epochs. The preference notebook's DPO run on 14 rows needs it: at 1e-3 the tuned
#: model did not prefer the chosen answers more often than the base did.
TINY_PREFERENCE_RECIPE: tuple[tuple[str, Any], ...] = (
    ("learning_rate", 0.003),
    ("batch_size", 4),
    ("learning_rate_scheduler.decay", "linear"),
    ("learning_rate_scheduler.warmup_fraction", 0.05),
)


def recipe_for(trainer_type: str, preference_types) -> tuple[tuple[str, Any], ...]:
    """The recipe for a trainer type: the preference one for ``preference_types``, else ``TINY_RECIPE``."""
    return TINY_PREFERENCE_RECIPE if trainer_type in preference_types else TINY_RECIPE


def recipe_reason(key: str) -> str:
    """The reason shown next to a derived recipe value."""
    return (f"llm-magic/tiny: the embedded model's measured recipe (docs/embedded-model.md); set "
            f"trainer.{key} to override")
