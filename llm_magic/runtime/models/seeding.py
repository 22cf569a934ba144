"""Seeds: ``random_seed`` decides the adapter's initial weights, the split, shuffling and dropout.

The adapter is wrapped when the model loads, which can be long before ``%llm_train`` (a
``%%llm_config --load``, a ``%llm_predict``), and whatever ran in between has moved the global
RNGs. So the wrap draws its random initial weights under a fork of torch's RNG seeded with the
config's ``random_seed`` (:func:`seeded`): the weights depend on that seed only, and the notebook's
own RNG state is left as it was. ``%llm_train --seed N`` may ask for another seed; the adapter
is then still at its initial weights (:func:`fingerprint` tells), and training re-wraps it under
``N`` (``training/api.py``). We prefer seeding at wrap time to re-initialising each adapter kind's
parameters by hand: PEFT's own init code (LoRA, DoRA, IA3, VeRA, ...) runs unchanged.

Full determinism on CUDA (deterministic kernels, ``CUBLAS_WORKSPACE_CONFIG``) is slower and is
opt-in: ``LLM_MAGIC_FULL_DETERMINISM=1`` (see docs/training.md).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch

    from llm_magic.runtime.config import LLMConfig

import torch
from transformers import enable_full_determinism, set_seed

__all__ = ["DEFAULT_SEED", "config_seed", "fingerprint", "full_determinism", "seed_everything", "seeded"]

#: Ludwig's default ``random_seed`` (``LudwigModel.train(random_seed=42)``).
DEFAULT_SEED = 42


def config_seed(config: LLMConfig) -> int:
    """The config's ``random_seed`` (42 when the config has none)."""
    return DEFAULT_SEED if config.random_seed is None else int(config.random_seed)


def full_determinism() -> bool:
    """Whether ``LLM_MAGIC_FULL_DETERMINISM`` asks for deterministic (slower) CUDA kernels."""
    return os.environ.get("LLM_MAGIC_FULL_DETERMINISM", "").strip().lower() in ("1", "true", "yes", "on")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all devices), as HF's ``set_seed`` does."""
    if full_determinism():
        enable_full_determinism(seed)
    else:
        set_seed(seed)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's RNG (CPU and CUDA) seeded with ``seed``, then restore it."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def fingerprint(model: torch.nn.Module) -> str | None:
    """A hash of the trainable weights' bytes (None when nothing is trainable).

    Equal fingerprints before and after mean no training step (nor a load) changed them.
    """
    digest = hashlib.sha256()
    found = False
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                found = True
                digest.update(name.encode())
                digest.update(param.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes())
    return digest.hexdigest() if found else None
