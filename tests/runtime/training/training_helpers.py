"""Helpers shared by the training tests (fixtures are in conftest.py)."""
from __future__ import annotations

# Prompt -> answer pairs a tiny LoRA model learns in a few dozen steps.
WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model", "tiny", "runs", "fast", "test"]


def pairs(words):
    """``(prompts, targets)`` of the say-the-word task."""
    return [f"Say {w}:" for w in words], [f" {w}" for w in words]


def trainable_state(model):
    """A detached copy of the trainable weights, by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def make_job(settings, data, *, output_dir, run_id, **fields):
    """A :class:`FinetuneJob` of ``settings`` on the tokenized ``data`` (a ``TrainingData``), without a
    session or a config, as :func:`~llm_magic.runtime.training.runner.run_job` takes it."""
    from llm_magic.runtime.training.job import FinetuneJob

    return FinetuneJob(None, settings, None, run_id=run_id, output_dir=output_dir, prepared=data, **fields)


def make_state(history=None, stop_event=None):
    """A fresh ``TrainingState`` for :func:`run_job`, with the given history list and stop event."""
    from llm_magic.runtime.training.runs import TrainingState

    state = TrainingState()
    if history is not None:
        state.history = history
    if stop_event is not None:
        state.stop_event = stop_event
    return state
