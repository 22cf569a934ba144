"""``adapter`` / ``adapters``: the PEFT adapter kinds (a registry) and the multi-adapter form.

``ADAPTER_TYPES`` maps each ``type`` to its config class; ``Adapter`` is the tagged union used by
the root model. ``adapter: lora`` (a bare string) expands to the default block of that kind.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field

from llm_magic.runtime.config.schema.adapters import lora, others, prompt_learning  # noqa: F401  (registers)
from llm_magic.runtime.config.schema.adapters.base import ADAPTER_TYPES, AdapterBase, Postprocessor
from llm_magic.runtime.config.schema.adapters.lora import AdaLoraAdapter, LoraAdapter
from llm_magic.runtime.config.schema.base import F, ConfigModel, type_block

#: Adapter kinds PEFT can merge into the base weights (merge_and_unload).
MERGEABLE_TYPES = tuple(name for name, cls in ADAPTER_TYPES.items() if cls.can_merge)

Adapter = Annotated[
    Union[tuple(ADAPTER_TYPES.values())],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(type_block),
]


class AdapterMerge(ConfigModel):
    """A weighted merge of several named adapters into a new one (PEFT ``add_weighted_adapter``)."""

    name: str = F("merged", "Name of the merged adapter; must differ from every source name.")
    sources: list[str] = F(..., "Names of the adapters to merge (keys of adapters.adapters).", min_length=1)
    weights: list[float] | None = F(None, "One weight per source; null = 1.0 each.")
    combination_type: Literal["linear", "svd", "ties", "dare_linear", "dare_ties", "magnitude_prune"] = F(
        "linear", "How the adapters are combined.")
    density: float | None = F(None, "Fraction of weights kept by ties/dare_*/magnitude_prune.", ge=0, le=1)


class MultiAdapterConfig(ConfigModel):
    """Several named adapters, one active, optionally merged (Ludwig's ``adapters:`` form)."""

    adapters: dict[str, Adapter] = F(..., "Name -> adapter block; at least one. The first is active by default.")
    active: str | None = F(None, "Name of the active adapter (or the merge name); null = the first one.")
    merge: AdapterMerge | None = F(None, "Optional weighted merge of some of the adapters.")

    @property
    def active_name(self) -> str:
        """The adapter that is active: ``active`` or the first entry."""
        return self.active or next(iter(self.adapters))


__all__ = [
    "ADAPTER_TYPES",
    "AdaLoraAdapter",
    "Adapter",
    "AdapterBase",
    "AdapterMerge",
    "LoraAdapter",
    "MERGEABLE_TYPES",
    "MultiAdapterConfig",
    "Postprocessor",
]
