"""Preference metrics of a model on (prompt, chosen, rejected) rows: does it prefer the chosen answer?

- ``preference_accuracy``: the share of rows whose chosen answer the model gives a higher mean
  log-probability per token than the rejected one (per token, so that a short answer does not win
  by being short). It needs no reference model, so the base model and the tuned one are measured
  the same way (``%llm_eval`` before and after a DPO run).
- ``reward_accuracy`` and ``reward_margin`` (with an adapter): DPO's implicit reward
  ``beta * (log p_tuned - log p_base)`` of each answer, the base being the model with its adapter
  switched off; the share of rows whose chosen answer has the higher reward, and the mean gap.
  These are the numbers TRL logs as ``rewards/accuracies`` and ``rewards/margins``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover - types only
    from contextlib import AbstractContextManager

    import torch
    from transformers import PreTrainedTokenizerBase


import torch

from llm_magic.runtime.data.tokenize import make_data_collator, tokenize_for_training
from llm_magic.runtime.generation.streaming import model_device

__all__ = ["answer_log_likelihoods", "preference_metrics"]


def answer_log_likelihoods(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                           answers: Sequence[str],
                           *,
                           batch_size: int = 8, add_special_tokens: bool = True) -> list[tuple[float, int]]:
    """``(summed log-probability, token count)`` of each answer after its prompt (its tokens and EOS)."""
    rows = list(tokenize_for_training(tokenizer, list(prompts), list(answers),
                                      add_special_tokens=add_special_tokens).rows)
    collator, device = make_data_collator(tokenizer), model_device(model)
    scores: list[tuple[float, int]] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                batch = collator(rows[start:start + batch_size])
                labels = batch.pop("labels").to(device)[:, 1:]
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits[:, :-1].float()
                mask = labels != -100
                picked = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                scores.extend(zip((float(v) for v in (picked * mask).sum(dim=1)), (int(n) for n in mask.sum(dim=1))))
    finally:
        model.train(was_training)
    return scores


def _adapter_off(model: torch.nn.Module) -> AbstractContextManager[None] | None:
    """A context with the PEFT adapter switched off, or None for a model without one."""
    disable = getattr(model, "disable_adapter", None)
    if disable is None or not getattr(model, "peft_config", None):
        return None
    return disable()


def preference_metrics(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                       chosen: Sequence[str],
                       rejected: Sequence[str], *, beta: float = 0.1, batch_size: int = 8,
                       add_special_tokens: bool = True, rewards: bool = True,
                       progress: Callable[[int], None] | None = None) -> dict[str, float]:
    """The module docstring's metrics over the rows; weights unchanged. ``rewards=False`` skips the
    rewards (their base-model pass), e.g. for the base model itself."""
    if not prompts:
        return {}

    def scores(answers: Sequence[str]) -> list[tuple[float, int]]:
        out = answer_log_likelihoods(model, tokenizer, prompts, answers, batch_size=batch_size,
                                     add_special_tokens=add_special_tokens)
        if progress is not None:
            progress(len(prompts))
        return out

    good, bad = scores(chosen), scores(rejected)
    rows = len(prompts)
    metrics = {"preference_accuracy": sum(g / max(1, n) > b / max(1, m) for (g, n), (b, m) in zip(good, bad)) / rows}
    off = _adapter_off(model) if rewards else None
    if off is not None:
        with off:
            base_good, base_bad = scores(chosen), scores(rejected)
        margins = [beta * ((g[0] - bg[0]) - (b[0] - bb[0])) for g, b, bg, bb in zip(good, bad, base_good, base_bad)]
        metrics["reward_accuracy"] = sum(m > 0 for m in margins) / rows
        metrics["reward_margin"] = sum(margins) / rows
    return metrics
