"""Batched generation for many prompts at once (``%llm_predict``, ``Session.predict``).

Decoder-only models must be left-padded to generate in a batch (the new tokens follow each
prompt directly): the prompts' ids are padded on the left here (:func:`.inputs.left_padded`),
whatever the tokenizer's ``padding_side`` (training pads on the right).
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["BatchInterrupted", "generate_batch"]


class BatchInterrupted(KeyboardInterrupt):
    """The user stopped :func:`generate_batch`; ``outputs`` holds the prompts finished before that.

    A ``KeyboardInterrupt`` subclass, so a caller that does not keep partial results (evaluation)
    is interrupted exactly as before; ``%llm_predict`` catches it and keeps the finished rows.
    """

    def __init__(self, outputs: list[str], total: int) -> None:
        super().__init__(f"generation stopped after {len(outputs)} of {total} prompts")
        self.outputs = outputs
        self.total = total


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
    prompt_limits: Any = None,
) -> list[str]:
    """Generate one continuation per prompt, ``batch_size`` prompts per ``model.generate`` call.

    Returns the decoded new text of each prompt (special tokens stripped), in order. ``labels``
    constrains generation to those label strings (category ``constrain_to_vocabulary``), with
    ``max_new_tokens`` set to fit the longest one.
    ``progress(n)`` is called after each batch with the number of prompts it finished.
    ``prompt_limits`` (a ``runtime.data.SequenceLimits``) cuts each prompt as training cut it;
    then prompts longer than ``max_prompt_tokens`` keep their last tokens (see :mod:`.inputs`).
    A KeyboardInterrupt (the stop button) raises :class:`BatchInterrupted` carrying the answers
    of the batches already done.
    """
    import torch
    from transformers import set_seed

    from llm_magic.runtime.generation.inputs import encode_prompts, left_padded
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
    pad_id = kwargs["pad_token_id"] if kwargs["pad_token_id"] is not None else (tokenizer.eos_token_id or 0)
    with eval_mode(model), torch.inference_mode():
        try:
            for start in range(0, len(prompts), max(1, batch_size)):
                chunk = prompts[start : start + max(1, batch_size)]
                rows = encode_prompts(tokenizer, chunk, add_special_tokens=add_special_tokens,
                                      limits=prompt_limits, max_prompt_tokens=max_prompt_tokens)
                inputs = {k: v.to(device) for k, v in left_padded(rows, pad_id).items()}
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
