"""Prompt tokens for ``model.generate``: cut as training cuts them, then to the room left.

Two cuts, in this order:

1. the config's sequence limits (the input feature's ``max_sequence_length`` / ``sequence_length``
   and ``preprocessing.global_max_sequence_length``), by the training rules in
   :func:`llm_magic.runtime.data.tokenize.cut_prompt_for_generation`, so the model sees the
   prompt it was trained on;
2. the room the model has left (context length − ``max_new_tokens`` − 8, Ludwig's margin):
   the last tokens are kept, as Ludwig does at prediction.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover - types only
    from transformers import PreTrainedTokenizerBase

    from llm_magic.runtime.data.tokenize import SequenceLimits

import torch

from llm_magic.runtime.data.tokenize import cut_prompt_for_generation

__all__ = ["cut_ids", "encode_prompts", "left_padded"]


def encode_prompts(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], *, add_special_tokens: bool = True,
                   limits: SequenceLimits | None = None, max_prompt_tokens: int | None = None) -> list[list[int]]:
    """The token ids of each prompt after both cuts (``limits``: a ``SequenceLimits`` or None)."""
    if not prompts:
        return []
    encoded = tokenizer(list(prompts), add_special_tokens=add_special_tokens)["input_ids"]
    return [cut_ids(ids, tokenizer, limits, max_prompt_tokens) for ids in encoded]


def cut_ids(ids: Sequence[int], tokenizer: PreTrainedTokenizerBase, limits: SequenceLimits | None = None,
            max_prompt_tokens: int | None = None) -> list[int]:
    """One prompt's token ids after both cuts."""
    ids = list(ids)
    if limits is not None:
        ids = cut_prompt_for_generation(ids, limits, getattr(tokenizer, "bos_token_id", None))
    if max_prompt_tokens and len(ids) > max_prompt_tokens:
        ids = ids[-max_prompt_tokens:]
    return ids


def left_padded(rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, Any]:
    """``input_ids`` and ``attention_mask`` tensors, each row padded on the left to the longest.

    Decoder-only models generate after the last position, so padding goes first. Written here
    rather than with ``tokenizer.pad``: that warns on every call for fast tokenizers, and the
    rows are already cut ids.
    """
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(list(row), dtype=torch.long)
            mask[i, width - len(row):] = 1
    return {"input_ids": ids, "attention_mask": mask}
