"""Prompt learning (virtual tokens): prompt tuning, prefix tuning and p-tuning.

Ludwig has commented these out; we offer them as an extension, with fields after PEFT's
``PromptTuningConfig``, ``PrefixTuningConfig`` and ``PromptEncoderConfig``.
"""
from __future__ import annotations

from typing import Literal

from llm_magic.runtime.config.schema.adapters.base import AdapterBase, register
from llm_magic.runtime.config.schema.base import F

_EXTENSION = "llm_magic extension; Ludwig does not offer this adapter type."


@register
class PromptTuningAdapter(AdapterBase):
    """Prompt tuning: learns embeddings of a few virtual tokens prepended to every input."""

    peft_class = "PromptTuningConfig"

    type: Literal["prompt_tuning"] = F("prompt_tuning", "Adapter kind.", diverges=_EXTENSION)
    num_virtual_tokens: int = F(20, "Number of virtual tokens.", gt=0)
    prompt_tuning_init: Literal["RANDOM", "TEXT", "SAMPLE_VOCAB"] = F(
        "RANDOM", "Initialise the virtual tokens randomly, from `prompt_tuning_init_text`, or from vocab.")
    prompt_tuning_init_text: str | None = F(None, "Text whose tokens initialise the virtual tokens (TEXT).")
    tokenizer_name_or_path: str | None = F(None, "Tokenizer for the init text; null = base_model.")


@register
class PrefixTuningAdapter(AdapterBase):
    """Prefix tuning: learns key/value prefixes for every attention layer."""

    peft_class = "PrefixTuningConfig"

    type: Literal["prefix_tuning"] = F("prefix_tuning", "Adapter kind.", diverges=_EXTENSION)
    num_virtual_tokens: int = F(20, "Number of virtual tokens.", gt=0)
    prefix_projection: bool = F(False, "Reparameterise the prefix through an MLP.")
    encoder_hidden_size: int | None = F(None, "Hidden size of that MLP; null = model hidden size.", gt=0)


@register
class PTuningAdapter(AdapterBase):
    """P-tuning: virtual tokens produced by a small prompt encoder (MLP or LSTM)."""

    peft_class = "PromptEncoderConfig"

    type: Literal["p_tuning"] = F("p_tuning", "Adapter kind.", diverges=_EXTENSION)
    num_virtual_tokens: int = F(20, "Number of virtual tokens.", gt=0)
    encoder_reparameterization_type: Literal["MLP", "LSTM"] = F("MLP", "Prompt encoder architecture.")
    encoder_hidden_size: int | None = F(None, "Prompt encoder hidden size; null = model hidden size.", gt=0)
    encoder_num_layers: int = F(2, "Prompt encoder layers.", gt=0)
    encoder_dropout: float = F(0.0, "Prompt encoder dropout.", ge=0, le=1)
