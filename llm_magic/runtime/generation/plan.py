"""How many prompts go into one ``model.generate`` call: an automatic batch size from memory.

Prompts are generated longest first, so each batch's first prompt is its longest and bounds its
padded width; :func:`batch_plan` cuts the sorted prompts into batches whose estimated memory
(KV cache + one layer's activations per token, logits per row) fits a share of the memory that
is free now, capped at :data:`MAX_AUTO_ROWS` on the CPU and :data:`MAX_AUTO_ROWS_CUDA` on a GPU
(Ludwig's own ``predict`` defaults to 128 rows). On the CPU 32 rows a call beat 64 both with
padded prefill (64: ~10% more CPU time) and with the padding-free prefill of :mod:`.decode`
(64: 0.95-0.99x of the expert's CPU time against 1.11-1.12x at 32, same run; 256 rows of 9-204
tokens, 16 new tokens, 12M Llama, 1 thread): each decoding step copies a wider KV cache.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import PretrainedConfig

import torch

__all__ = ["MAX_AUTO_ROWS", "MAX_AUTO_ROWS_CUDA", "batch_plan", "bytes_per_token", "free_memory"]

#: Upper bound of the automatic batch size (rows per ``generate`` call) on the CPU ...
MAX_AUTO_ROWS = 32
#: ... and on CUDA (not measured yet: docs/benchmarks.md lists it for the GPU run).
MAX_AUTO_ROWS_CUDA = 128
#: Share of the free memory one batch may use (the rest is headroom for the allocator, other
#: tensors and estimate error).
MEMORY_SHARE = 0.25


def _config(model: torch.nn.Module) -> PretrainedConfig | None:
    config = getattr(model, "config", None)
    return getattr(config, "text_config", None) or config


def bytes_per_token(model: torch.nn.Module) -> tuple[int, int]:
    """(bytes per token in a batch, bytes per row) while generating with ``model``.

    Per token: the KV cache of every layer (2 x kv heads x head dim) and one layer's activations
    (hidden and MLP widths) live at once. Per row: a few vocabulary-wide float32 vectors (the
    last position's logits and the processors' copies).
    """
    config = _config(model)
    hidden = int(getattr(config, "hidden_size", 0) or 1024)
    layers = int(getattr(config, "num_hidden_layers", 0) or 12)
    heads = int(getattr(config, "num_attention_heads", 0) or 16)
    kv_heads = int(getattr(config, "num_key_value_heads", 0) or heads)
    head_dim = int(getattr(config, "head_dim", 0) or hidden // max(1, heads))
    inner = int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    vocab = int(getattr(config, "vocab_size", 0) or 32000)
    try:
        width = next(model.parameters()).element_size()
    except (StopIteration, AttributeError):
        width = 4
    width = max(width, 2)  # 4-bit weights still compute in (at least) 16 bits
    per_token = (2 * layers * kv_heads * head_dim + 4 * hidden + 2 * inner) * width
    return per_token, 4 * vocab * 4


def free_memory(device: Any) -> int:
    """Bytes free on ``device`` now (CUDA: ``mem_get_info``; else available RAM)."""
    if getattr(device, "type", str(device)).startswith("cuda") and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil  # installed with accelerate; counts reclaimable page cache as available
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return int(psutil.virtual_memory().available)


def batch_plan(lengths: Sequence[int], new_tokens: int, *, batch_size: int | None, model: torch.nn.Module = None,
               device: Any = None, budget: int | None = None) -> list[list[int]]:
    """Indices of ``lengths`` in batches, longest prompts first.

    ``batch_size`` fixes the rows per batch; None sizes each batch from memory (``budget`` bytes,
    default :data:`MEMORY_SHARE` of :func:`free_memory`) for its padded width plus
    ``new_tokens``, at most :data:`MAX_AUTO_ROWS` rows (:data:`MAX_AUTO_ROWS_CUDA` on CUDA).
    """
    # Longest first; ties keep row order (sorted is stable), so equal prompts batch predictably.
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    if batch_size is not None:
        size = max(1, int(batch_size))
        return [order[i : i + size] for i in range(0, len(order), size)]
    per_token, per_row = bytes_per_token(model)
    if budget is None:
        budget = int(free_memory(device) * MEMORY_SHARE)
    cap = MAX_AUTO_ROWS_CUDA if getattr(device, "type", str(device or "cpu")).startswith("cuda") else MAX_AUTO_ROWS
    batches, start = [], 0
    while start < len(order):
        width = lengths[order[start]] + int(new_tokens or 0)
        rows = budget // max(1, width * per_token + per_row)
        rows = max(1, min(cap, int(rows)))
        batches.append(order[start : start + rows])
        start += rows
    return batches
