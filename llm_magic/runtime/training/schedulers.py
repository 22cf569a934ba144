"""``trainer.learning_rate_scheduler`` (Ludwig's keys) mapped to Hugging Face / torch LR schedules.

Every ``decay`` type but ``exponential`` has a ready-made schedule in ``transformers`` or torch;
``exponential`` (Ludwig's ``decay_rate ** (step / decay_steps)``) is a one-line ``LambdaLR``.
Warmup is linear from 0, over ``warmup_fraction`` of the run's steps or ``warmup_evaluations``
evaluation intervals, whichever is longer.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from transformers import get_scheduler

from llm_magic.errors import LlmMagicError

if TYPE_CHECKING:  # pragma: no cover - types only
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler

__all__ = ["DECAY_TYPES", "build_scheduler", "warmup_steps"]

DECAY_TYPES = (None, "linear", "exponential", "cosine", "one_cycle", "inverse_sqrt", "polynomial", "wsd")


def warmup_steps(cfg: dict[str, Any], total_steps: int, eval_interval: int | None) -> int:
    """Warmup steps from ``warmup_fraction`` and ``warmup_evaluations`` (the longer wins)."""
    by_fraction = math.ceil(float(cfg.get("warmup_fraction") or 0.0) * total_steps)
    by_evals = int(cfg.get("warmup_evaluations") or 0) * (eval_interval or 0)
    return min(total_steps, max(by_fraction, by_evals))


def build_scheduler(optimizer: Optimizer, cfg: dict[str, Any], learning_rate: float, total_steps: int,
                    eval_interval: int | None = None) -> LRScheduler:
    """The LR scheduler (stepped once per optimizer step) for a ``learning_rate_scheduler`` block."""
    decay = cfg.get("decay")
    if decay not in DECAY_TYPES:
        raise LlmMagicError(
            f"trainer.learning_rate_scheduler.decay: unknown value {decay!r}. "
            f"Use one of: null, {', '.join(d for d in DECAY_TYPES if d)}."
        )
    total_steps = max(1, total_steps)
    warmup = warmup_steps(cfg, total_steps, eval_interval)

    def hf(name: str, **extra: Any) -> LRScheduler:
        return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps,
                             scheduler_specific_kwargs=extra or None)

    if decay is None:
        return hf("constant_with_warmup")
    if decay == "linear":
        return hf("linear")
    if decay == "cosine":
        if cfg.get("t_0"):
            cycles = max(1, round((total_steps - warmup) / int(cfg["t_0"])))
            return hf("cosine_with_restarts", num_cycles=cycles)
        eta_min = float(cfg.get("eta_min") or 0.0)
        return hf("cosine_with_min_lr", min_lr=eta_min) if eta_min > 0 else hf("cosine")
    if decay == "polynomial":
        end_lr = float(cfg.get("polynomial_end_lr") or 0.0)
        # HF insists lr_end < lr; a 0 end (Ludwig's default) becomes a vanishing one.
        return hf("polynomial", power=float(cfg.get("polynomial_power") or 1.0),
                  lr_end=min(end_lr, learning_rate * 1e-3) if end_lr <= 0 else end_lr)
    if decay == "inverse_sqrt":
        return hf("inverse_sqrt", timescale=int(cfg.get("inverse_sqrt_warmup_steps") or 4000))
    if decay == "wsd":
        warmup = math.ceil(float(cfg.get("wsd_warmup_fraction", 0.1)) * total_steps)
        stable = math.floor(float(cfg.get("wsd_stable_fraction", 0.8)) * total_steps)
        return get_scheduler("warmup_stable_decay", optimizer, num_warmup_steps=warmup,
                             num_training_steps=total_steps,
                             scheduler_specific_kwargs={"num_stable_steps": stable,
                                                        "num_decay_steps": max(1, total_steps - warmup - stable)})
    if decay == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=float(cfg.get("max_lr") or learning_rate), total_steps=total_steps + 1,
            pct_start=float(cfg.get("pct_start", 0.3)), div_factor=float(cfg.get("div_factor", 25.0)),
            final_div_factor=float(cfg.get("final_div_factor", 1e4)),
        )
    # exponential: no HF equivalent, and the rule is one line.
    rate = float(cfg.get("decay_rate", 0.96))
    every = int(cfg.get("decay_steps") or 10000)
    staircase = bool(cfg.get("staircase", False))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / every
        return rate ** (math.floor(progress) if staircase else progress)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
