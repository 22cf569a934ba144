"""Batched generation for many prompts at once (``%llm_predict``, ``Session.predict``).

Decoder-only models must be left-padded to generate in a batch (the new tokens follow each
prompt directly): the prompts' ids are padded on the left here (:func:`.inputs.left_padded`),
whatever the tokenizer's ``padding_side`` (training pads on the right).

Prompts are generated longest first, in batches of similar length (little padding), sized from
memory unless a batch size is given (:mod:`.plan`), and the answers come back in row order.
Each batch runs through :func:`.decode.generate_ids`: the same tokens as one padded
``model.generate`` call, without the prefill's padding and, under greedy decoding, without
feeding rows that have finished.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import PreTrainedTokenizerBase

import torch
from transformers import set_seed

from llm_magic.runtime.generation.decode import generate_ids
from llm_magic.runtime.generation.inputs import encode_prompts, left_padded
from llm_magic.runtime.generation.labels import label_paths, label_prefix_fn
from llm_magic.runtime.generation.plan import batch_plan
from llm_magic.runtime.generation.streaming import eval_mode, model_device
from llm_magic.runtime.threads import fit_threads_to_load

__all__ = ["BatchInterrupted", "generate_batch"]


class BatchInterrupted(KeyboardInterrupt):
    """The user stopped :func:`generate_batch`; the prompts finished before that are kept.

    ``indices`` are the finished prompts' positions (ascending) and ``outputs`` their answers, in
    the same order. Batches run longest prompt first, so these need not be the first prompts.
    A ``KeyboardInterrupt`` subclass, so a caller that does not keep partial results (evaluation)
    is interrupted exactly as before; ``%llm_predict`` catches it and keeps the finished rows.
    """

    def __init__(self, done: dict[int, str], total: int) -> None:
        super().__init__(f"generation stopped after {len(done)} of {total} prompts")
        self.indices = sorted(done)
        self.outputs = [done[i] for i in self.indices]
        self.total = total


def generate_batch(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    hf_kwargs: dict[str, Any],
    *,
    batch_size: int | None = None,
    seed: int | None = None,
    device: Any = None,
    labels: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    add_special_tokens: bool = True,
    max_prompt_tokens: int | None = None,
    prompt_limits: Any = None,
) -> list[str]:
    """Generate one continuation per prompt; return the decoded new text of each, in order.

    Prompts run longest first, ``batch_size`` per ``model.generate`` call (None: as many as
    memory allows, see :func:`.plan.batch_plan`), with the KV cache on. Special tokens are
    stripped. ``labels`` constrains generation to those label strings (category
    ``constrain_to_vocabulary``), with ``max_new_tokens`` set to fit the longest one.
    ``progress(n)`` is called after each batch with the number of prompts it finished.
    ``prompt_limits`` (a ``runtime.data.SequenceLimits``) cuts each prompt as training cut it;
    then prompts longer than ``max_prompt_tokens`` keep their last tokens (see :mod:`.inputs`).
    A KeyboardInterrupt (the stop button) raises :class:`BatchInterrupted` carrying the answers
    of the batches already done.
    """
    if seed is not None:
        set_seed(seed)
    device = device if device is not None else model_device(model)
    kwargs = dict(hf_kwargs)
    kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
    # A model trained with gradient checkpointing has use_cache off in its config; generation
    # without the cache recomputes every earlier position at every step.
    kwargs.setdefault("use_cache", True)
    if labels:
        # Constrained output is a label then EOS: exactly enough room for the longest label, so
        # a short max_new_tokens cannot cut a label and a long one costs nothing.
        kwargs["max_new_tokens"] = max(len(p) for p in label_paths(tokenizer, labels)) + 1
        kwargs.pop("min_new_tokens", None)
    pad_id = kwargs["pad_token_id"] if kwargs["pad_token_id"] is not None else (tokenizer.eos_token_id or 0)
    rows = encode_prompts(tokenizer, prompts, add_special_tokens=add_special_tokens,
                          limits=prompt_limits, max_prompt_tokens=max_prompt_tokens)
    new_tokens = int(kwargs.get("max_new_tokens") or 0)
    queue = batch_plan([len(r) for r in rows], new_tokens, batch_size=batch_size, model=model, device=device)
    done: dict[int, str] = {}
    fit_threads_to_load()
    with eval_mode(model), torch.inference_mode():
        try:
            while queue:
                fit_threads_to_load(wait=False)  # other processes may have started or ended
                chunk = queue.pop(0)
                inputs = {k: v.to(device) for k, v in left_padded([rows[i] for i in chunk], pad_id).items()}
                width = inputs["input_ids"].shape[1]
                extra = {}
                if labels:
                    extra["prefix_allowed_tokens_fn"] = label_prefix_fn(tokenizer, labels, width)
                try:
                    ids = generate_ids(model, inputs["input_ids"], inputs["attention_mask"],
                                       {**kwargs, **extra}, pad_id=pad_id)
                except torch.OutOfMemoryError:
                    if batch_size is not None or len(chunk) == 1:
                        raise
                    # The memory estimate was too generous: halve this batch and go on.
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    half = len(chunk) // 2
                    queue[:0] = [chunk[:half], chunk[half:]]
                    continue
                texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
                done.update(zip(chunk, texts))
                if progress is not None:
                    progress(len(chunk))
        except KeyboardInterrupt as exc:
            # `done` only ever grows by whole batches, so it holds exactly the finished prompts.
            raise BatchInterrupted(done, len(prompts)) from exc
    return [done[i] for i in range(len(prompts))]
