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

The same holds one layer down: the last decoder layer's MLP output at a position reaches only
that position's final hidden state (the MLP is position-wise and adds into the residual
stream), so :func:`last_mlp_at` runs that MLP only at the positions the head will score (hooks
on its input and output; -5% of a step on a ~100M Llama with 6-word answers). Its matrix
products then run on fewer rows, which may change the last bits of a sum (gradients agree to
~1e-6 relative).

Written here rather than taken from a library: Liger needs Triton (GPU only) and no well-kept
CPU package offers it; the few lines below use only public module APIs (the base model
``base_model_prefix`` names, ``get_output_embeddings``).
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import PreTrainedModel

import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["CHUNK_ELEMENTS", "SUPPORTED_MODEL_TYPES", "label_only_loss", "last_mlp_at", "loss_parts"]

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


#: Above this share of scored positions, gathering them costs more than the MLP rows it saves.
_MLP_SHARE = 0.5


def _last_mlp(decoder: torch.nn.Module) -> torch.nn.Module | None:
    """The last decoder layer's MLP (``layers`` or GPT-2's ``h``), or None when not found."""
    layers = getattr(decoder, "layers", None)
    if layers is None:
        layers = getattr(decoder, "h", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return None
    mlp = getattr(layers[-1], "mlp", None)
    if not isinstance(mlp, torch.nn.Module):
        return None
    # Gradient checkpointing recomputes the layer in backward, without these hooks.
    # (transformers 5 flags each layer; older models flag the decoder)
    if getattr(layers[-1], "gradient_checkpointing", False) or getattr(decoder, "gradient_checkpointing", False):
        return None
    # Dropout inside the MLP (GPT-2's resid_pdrop) would draw fewer random numbers on fewer
    # rows: a different mask, so not the same run. Leave such an MLP whole.
    if any(isinstance(m, torch.nn.Dropout) and m.p > 0 and m.training for m in mlp.modules()):
        return None
    return mlp


@contextlib.contextmanager
def last_mlp_at(decoder: torch.nn.Module, used: torch.Tensor):
    """Within this block, the last layer's MLP computes only where ``used`` (batch x sequence) is
    True and gives zeros elsewhere: exact for every output at a used position.

    Nothing changes when the MLP is not found or holds an active dropout, when most positions
    are used anyway, or under gradient checkpointing (its recomputation in backward would run
    without the hooks).
    """
    mlp = _last_mlp(decoder)
    share = float(used.float().mean()) if used.numel() else 1.0
    if mlp is None or share > _MLP_SHARE:
        yield
        return
    gathered = []

    def gather(module: torch.nn.Module, args: tuple) -> tuple | None:
        hidden = args[0] if args else None
        if not torch.is_tensor(hidden) or hidden.shape[:-1] != used.shape:
            return None  # not the call this was set for: leave it alone
        gathered.append(True)
        return (hidden[used.to(hidden.device)], *args[1:])

    def scatter(module: torch.nn.Module, args: tuple, out: Any) -> Any:
        if not gathered or not torch.is_tensor(out):
            return None
        gathered.pop()
        where = used.to(out.device)
        return out.new_zeros((*where.shape, out.shape[-1])).index_put((where,), out)

    handles = [mlp.register_forward_pre_hook(gather), mlp.register_forward_hook(scatter)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


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
    # Position t predicts token t+1 (HF's shift); only positions with a label are scored.
    keep = labels[:, 1:] != -100
    used = torch.nn.functional.pad(keep, (0, 1), value=False)  # batch x sequence
    with last_mlp_at(decoder, used):
        hidden = decoder(**kwargs)[0]
    target = labels[:, 1:].to(hidden.device)
    keep = keep.to(hidden.device)
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
