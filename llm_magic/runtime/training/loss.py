"""The causal-LM loss computed only where it is needed: the LM head at label positions, in chunks.

A model's own forward applies its LM head to every position, so a batch materialises
``batch x sequence x vocabulary`` float logits, although supervised fine-tuning scores only the
completion tokens (labels are -100 on the prompt and the padding). :func:`label_only_loss` runs
the decoder for hidden states, keeps the positions that predict a label, and applies the head
and the cross-entropy to those, a chunk at a time; each chunk's logits are recomputed in the
backward pass (activation checkpointing) instead of being kept, so at most one chunk of logits
is alive at once. This is what Liger's fused linear cross-entropy does on GPUs, written in plain
PyTorch so it also runs on the CPU. The loss is the model's own (same shift, same reduction,
``num_items_in_batch`` as HF's ``ForCausalLMLoss``), and so are the gradients.

Written here rather than taken from a library: Liger needs Triton (GPU only) and no well-kept
CPU package offers it; the few lines below use only public module APIs (the base model
``base_model_prefix`` names, ``get_output_embeddings``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import PreTrainedModel

import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["CHUNK_ELEMENTS", "SUPPORTED_MODEL_TYPES", "label_only_loss", "loss_parts"]

#: Logit elements (tokens x vocabulary) per chunk: 16M floats, 64 MiB; 512 tokens at a 32k vocab.
CHUNK_ELEMENTS = 2 ** 24

#: Architectures whose ``ForCausalLM.forward`` is exactly ``lm_head(decoder(...))`` (+ Gemma's
#: final logit softcapping): checked against transformers' modelling code. Others (logit scales
#: as in Cohere / Granite, MoE router losses, multimodal wrappers) keep the model's own loss.
SUPPORTED_MODEL_TYPES = frozenset({
    "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi", "phi3",
    "olmo", "olmo2", "starcoder2", "gpt2", "gpt_neox", "smollm3", "stablelm", "falcon",
})


def _causal_model(model: torch.nn.Module) -> PreTrainedModel | None:
    """The ``*ForCausalLM`` module under a PEFT wrapper (None for prompt-learning adapters)."""
    if hasattr(model, "peft_config") and hasattr(model, "get_base_model"):
        active = getattr(model, "active_adapter", None)
        config = model.peft_config.get(active) if isinstance(active, str) else None
        # Prompt tuning / prefix tuning add virtual tokens in PeftModel.forward: keep that path.
        if config is None or getattr(config, "is_prompt_learning", False):
            return None
        return model.get_base_model()
    return model


def loss_parts(model: torch.nn.Module) -> tuple[Any, Any, float | None] | None:
    """(decoder, LM head, final logit softcap) of ``model``, or None when it needs its own forward."""
    causal = _causal_model(model)
    if causal is None:
        return None
    config = getattr(causal, "config", None)
    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return None
    decoder = getattr(causal, getattr(causal, "base_model_prefix", "") or "model", None)
    head = causal.get_output_embeddings() if hasattr(causal, "get_output_embeddings") else None
    if decoder is None or head is None or decoder is causal:
        return None
    return decoder, head, getattr(config, "final_logit_softcapping", None)


def _chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, target: torch.Tensor,
                softcap: float | None) -> torch.Tensor:
    logits = head(hidden).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.nn.functional.cross_entropy(logits, target, reduction="sum")


def label_only_loss(model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None,
                    chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor | None:
    """The model's causal-LM loss on ``inputs`` (with ``labels``), or None if it must run its own.

    ``num_items_in_batch`` (HF Trainer's count of label tokens over the accumulated batch) makes
    the loss a sum divided by it, as the model's loss does; without it the loss is the mean over
    this batch's label tokens.
    """
    parts = loss_parts(model)
    labels = inputs.get("labels")
    if parts is None or labels is None or "shift_labels" in inputs:
        return None
    decoder, head, softcap = parts
    kwargs = {k: v for k, v in inputs.items() if k != "labels"}
    kwargs["use_cache"] = False
    hidden = decoder(**kwargs)[0]
    # Position t predicts token t+1 (HF's shift); only positions with a label are scored.
    target = labels[:, 1:].to(hidden.device)
    keep = target != -100
    hidden, target = hidden[:, :-1][keep], target[keep]
    vocab = int(getattr(head, "out_features", 0) or head.weight.shape[0])
    size = max(1, chunk_elements // max(1, vocab))
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], size):
        h, y = hidden[start : start + size], target[start : start + size]
        if torch.is_grad_enabled() and hidden.shape[0] > size:
            # Recompute this chunk's logits in backward rather than keeping them all alive.
            total = total + checkpoint(_chunk_loss, head, h, y, softcap, use_reentrant=False)
        else:
            total = total + _chunk_loss(head, h, y, softcap)
    if num_items_in_batch is None:
        return total / keep.sum().clamp(min=1) if keep.any() else total * float("nan")
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch
