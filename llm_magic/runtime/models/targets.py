"""Which modules an adapter attaches to when the config leaves ``target_modules`` unset.

Ludwig hard-codes per-model lists and otherwise relies on PEFT's per-architecture table, which
misses new architectures and went stale when Phi-2 renamed its layers (Ludwig issues 3853, 3910).
We look at the loaded model instead: every Linear / Conv1D inside the repeated decoder blocks
(attention and MLP projections, by their leaf names), excluding MoE routers. Only when the model
has no such layers do we return None, which lets PEFT fall back to its own table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Iterator

    import torch

import torch
from transformers.pytorch_utils import Conv1D

__all__ = [
    "PROMPT_LEARNING_TYPES", "TargetCandidates", "default_target_modules", "find_candidates",
]

#: Adapter types that add virtual tokens instead of wrapping modules (no target modules).
PROMPT_LEARNING_TYPES = frozenset({"prompt_tuning", "prefix_tuning", "p_tuning"})

# MoE routers are Linear layers too, but adapting them destabilises expert routing.
_ROUTER_NAMES = frozenset({"gate", "router"})


def _decoder_blocks(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model's stack of decoder layers: the ``ModuleList`` with the most sub-modules, or None.

    "Most sub-modules" rather than "longest": a tiny MoE model can have more experts per layer
    than layers, but the layer stack always contains every expert list.
    """
    best, best_size = None, 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList):
            size = sum(1 for _ in module.modules())
            if size > best_size:
                best, best_size = module, size
    return best


def _is_projection(module: torch.nn.Module) -> bool:
    # bitsandbytes' Linear4bit / Linear8bitLt subclass torch.nn.Linear, so quantized models match.
    return isinstance(module, (torch.nn.Linear, Conv1D))


def _is_norm(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")


@dataclass(frozen=True)
class TargetCandidates:
    """Leaf names of the adaptable modules of a bare (un-wrapped) base model, sorted."""

    projections: tuple[str, ...]
    norms: tuple[str, ...]
    #: Every module leaf name in the model, to check configured target_modules against.
    all_names: frozenset[str] = frozenset()


def find_candidates(model: torch.nn.Module) -> TargetCandidates:
    """Collect the Linear/Conv1D and norm leaf names inside ``model``'s decoder blocks.

    Call it on the bare base model: once PEFT has wrapped it, its own layers would show up too.
    """
    all_names = frozenset(name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name)
    blocks = _decoder_blocks(model)
    if blocks is None:
        return TargetCandidates((), (), all_names)
    projections, norms = set(), set()
    for name, module in blocks.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if not name or leaf.isdigit():
            continue
        if _is_projection(module):
            projections.add(leaf)
        elif _is_norm(module):
            norms.add(leaf)
    return TargetCandidates(
        tuple(sorted(projections - _ROUTER_NAMES)), tuple(sorted(norms)), all_names
    )


def default_target_modules(candidates: TargetCandidates, adapter_type: str) -> list[str] | None:
    """Leaf module names to adapt for ``adapter_type``, or None.

    ``ln_tuning`` targets the norm layers; prompt-learning types target nothing (None); every other
    type targets all Linear/Conv1D projections of the decoder blocks. None also means "no such
    layers found: let PEFT use its per-architecture table".
    """
    if adapter_type in PROMPT_LEARNING_TYPES:
        return None
    names = candidates.norms if adapter_type == "ln_tuning" else candidates.projections
    return list(names) or None
