"""Padding-free training batches: each batch's rows laid end to end, positions restarting per row.

transformers' ``DataCollatorWithFlattening`` turns a batch of rows into one ``[1, total]`` row
with ``position_ids`` that restart at 0 for every row and no ``attention_mask``; the model then
attends within each row only (transformers builds a block-diagonal causal mask from the
``position_ids`` for SDPA and eager attention; flash-attention runs its variable-length kernel).
The loss is the padded batch's loss exactly (``tests/runtime/training/test_padding_free.py``),
and the rows per step stay ``batch_size``, so nothing else about training changes.

When it is on (:func:`padding_free_applies`): only with a flash-attention implementation. There
the variable-length kernel computes only the rows' own blocks, so no padding is computed at all.
With SDPA or eager attention (the CPU), the block-diagonal mask is ``total x total``: measured on
the CPU it was 1.09-1.12x slower than the length-grouped padded batches it would replace
(docs/benchmarks.md), so there length grouping stays. Ludwig has no packing key for fine-tuning
(``trainer.packing`` exists only on ``type: none``, where nothing trains).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Callable

    import torch
    from transformers import PretrainedConfig

from transformers import DataCollatorWithFlattening

__all__ = ["SUPPORTED_MODEL_TYPES", "padding_free_applies", "padding_free_collator"]

#: Architectures whose attention masks come from transformers' ``create_causal_mask`` (packed
#: sequences detected from ``position_ids``) and whose positions are 0-based.
SUPPORTED_MODEL_TYPES = frozenset({
    "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2", "smollm3",
})
_VARLEN = ("flash_attention_2", "flash_attention_3")


def _config(model: torch.nn.Module) -> PretrainedConfig | None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, "config", None)


def padding_free_applies(model: torch.nn.Module) -> bool:
    """Whether ``model``'s training batches are flattened (see the module docstring)."""
    if hasattr(model, "peft_config"):
        active = getattr(model, "active_adapter", None)
        config = model.peft_config.get(active) if isinstance(active, str) else None
        if config is None or getattr(config, "is_prompt_learning", False):
            return False  # virtual tokens are prepended per row
    config = _config(model)
    return (getattr(config, "model_type", None) in SUPPORTED_MODEL_TYPES
            and getattr(config, "_attn_implementation", None) in _VARLEN)


class _Flattening:
    """transformers' flattening collator, plus ``use_cache=False`` in every batch.

    transformers detects packed rows from ``position_ids`` only without a KV cache; a model's
    forward creates one whenever ``use_cache`` is on (the config default), even in training, and
    would then attend across rows.
    """

    def __init__(self) -> None:
        self.flatten = DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)

    def __call__(self, rows: Any) -> dict[str, Any]:
        return {**self.flatten(rows), "use_cache": False}


def padding_free_collator() -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
    """A collator of one flattened row: ``input_ids``, ``labels`` (-100 between rows), ``position_ids``."""
    return _Flattening()
