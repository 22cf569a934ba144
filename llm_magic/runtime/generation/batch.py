"""Batched generation for many prompts at once (``%llm_predict``, ``Session.predict``).

Decoder-only models must be left-padded to generate in a batch (the new tokens follow each
prompt directly); the tokenizer's ``padding_side`` is switched to "left" for the call only and
restored afterwards, because training pads on the right.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = ["BatchInterrupted", "generate_batch", "left_padding"]


class BatchInterrupted(KeyboardInterrupt):
    """The user stopped :func:`generate_batch`; ``outputs`` holds the prompts finished before that.

    A ``KeyboardInterrupt`` subclass, so a caller that does not keep partial results (evaluation)
    is interrupted exactly as before; ``%llm_predict`` catches it and keeps the finished rows.
    """

    def __init__(self, outputs: list[str], total: int) -> None:
        super().__init__(f"generation stopped after {len(outputs)} of {total} prompts")
        self.outputs = outputs
        self.total = total


@contextmanager
def left_padding(tokenizer: Any) -> Iterator[Any]:
    """Temporarily pad and truncate on the left; restore the tokenizer's sides afterwards.

    Left truncation keeps the end of an over-long prompt, where the question and the answer cue
    are (Ludwig keeps the last tokens at prediction too).
    """
    previous = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side = tokenizer.truncation_side = "left"
    try:
        yield tokenizer
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = previous


def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    hf_kwargs: dict[str, Any],
    *,
    batch_size: int = 1,
    seed: int | None = None,
    device: Any = None,
    labels: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    add_special_tokens: bool = True,
    max_prompt_tokens: int | None = None,
) -> list[str]:
    """Generate one continuation per prompt, ``batch_size`` prompts per ``model.generate`` call.

    Returns the decoded new text of each prompt (special tokens stripped), in order. ``labels``
    constrains generation to those label strings (category ``constrain_to_vocabulary``), with
    ``max_new_tokens`` set to fit the longest one.
    ``progress(n)`` is called after each batch with the number of prompts it finished. Prompts
    longer than ``max_prompt_tokens`` keep their last tokens. A KeyboardInterrupt (the stop
    button) raises :class:`BatchInterrupted` carrying the answers of the batches already done.
    """
    import torch
    from transformers import set_seed

    from llm_magic.runtime.generation.labels import label_paths, label_prefix_fn
    from llm_magic.runtime.generation.streaming import eval_mode, model_device

    if seed is not None:
        set_seed(seed)
    device = device if device is not None else model_device(model)
    kwargs = dict(hf_kwargs)
    kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
    if labels:
        # Constrained output is a label then EOS: exactly enough room for the longest label, so
        # a short max_new_tokens cannot cut a label and a long one costs nothing.
        kwargs["max_new_tokens"] = max(len(p) for p in label_paths(tokenizer, labels)) + 1
        kwargs.pop("min_new_tokens", None)
    outputs: list[str] = []
    with left_padding(tokenizer), eval_mode(model), torch.inference_mode():
        try:
            for start in range(0, len(prompts), max(1, batch_size)):
                chunk = prompts[start : start + max(1, batch_size)]
                inputs = tokenizer(
                    chunk, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens,
                    truncation=bool(max_prompt_tokens), max_length=max_prompt_tokens or None,
                ).to(device)
                width = inputs["input_ids"].shape[1]
                extra = {}
                if labels:
                    extra["prefix_allowed_tokens_fn"] = label_prefix_fn(tokenizer, labels, width)
                ids = model.generate(**inputs, **kwargs, **extra)
                ids = getattr(ids, "sequences", ids)
                outputs.extend(tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True))
                if progress is not None:
                    progress(len(chunk))
        except KeyboardInterrupt as exc:
            # `outputs` only ever grows by whole batches, so it holds exactly the finished prompts.
            raise BatchInterrupted(outputs, len(prompts)) from exc
    return outputs
