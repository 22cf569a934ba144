"""One batch of prompts through ``model.generate``, without the work that changes no token.

A plain batched call (what an expert writes) left-pads the prompts to the longest and feeds
every row through the model until the longest answer ends. Two parts of that work change no
generated token, and :func:`generate_ids` skips them:

- **Padding in the prefill.** The prompts' KV cache is built first, in sub-batches of similar
  length (:func:`prefill_groups`), laid out left-padded in one ``DynamicCache``; ``generate``
  resumes from it and feeds only each prompt's last token. Padded positions are masked out in
  both ways, and the position ids are the same (counted from the attention mask).
- **Finished rows.** A row that emitted EOS is fed through the model (as padding) until the
  whole batch ends. Under greedy decoding the call stops once at most :data:`LIVE_SHARE` of the
  rows are still live (:class:`_StopWhenSparse`) and generation resumes with only the live rows
  and their slice of the cache (``DynamicCache.batch_select_indices``). Greedy tokens depend only
  on a row's own sequence, so they are the same; sampling is not compacted, since its random
  draws are taken over the whole batch and a smaller batch would draw different tokens.

Both are built on transformers' own pieces: ``DynamicCache`` and ``generate``'s resumption from
a passed cache (it feeds only the positions the cache lacks). Transformers' continuous batching
(``model.generate_batch``, paged attention) does both jobs itself, but on the CPU it ran 7x
slower than one padded ``generate`` (64 prompts, the 12M benchmark model, transformers 5.24:
29 s against 4.1 s) and takes no ``prefix_allowed_tokens_fn`` (constrained labels), so it is
not used. Where the cache is not plain full attention (sliding windows, linear attention,
prompt-learning adapters) or the settings make a resumed call differ (beam search, several
sequences per prompt, stop strings, a time limit, ...), the batch is one plain ``generate``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import DynamicCache, PreTrainedModel

import torch
from transformers import DynamicCache, StoppingCriteriaList
from transformers.cache_utils import DynamicLayer

__all__ = ["LIVE_SHARE", "PREFILL_CALL_TOKENS", "generate_ids", "prefill_groups"]

#: Compact a batch once at most this share of its rows is still generating. Each compaction
#: costs one ``generate`` set-up and a copy of the live rows' cache, so it waits for half.
LIVE_SHARE = 0.5
#: ... and only with at least this many tokens still to generate (a copy for one step is waste).
MIN_STEPS_LEFT = 2
#: The cost of one more prefill forward call, in prompt tokens: the Python and kernel-launch
#: overhead of a 4-layer 12M Llama call (~1.5 ms on one core) is what ~8 of its tokens cost.
PREFILL_CALL_TOKENS = 8

# Settings under which a resumed greedy call makes the same tokens as one call: each of these
# reads only the row's own tokens (or nothing). Anything else (a time limit, stop strings,
# penalties that count from the prompt's end, ...) keeps the batch whole.
_COMPACT_SAFE = frozenset({
    "max_new_tokens", "min_new_tokens", "do_sample", "num_beams", "num_return_sequences", "use_cache",
    "pad_token_id", "eos_token_id", "bos_token_id", "repetition_penalty", "no_repeat_ngram_size",
    "bad_words_ids", "sequence_bias", "renormalize_logits", "remove_invalid_values", "suppress_tokens",
    "length_penalty", "early_stopping", "num_beam_groups", "forced_eos_token_id",
    "prefix_allowed_tokens_fn",
})
# Settings with which generate does not run one sequence per row from a plain cache.
_NO_RESUME = ("assistant_model", "prompt_lookup_num_tokens", "penalty_alpha", "cache_implementation",
              "guidance_scale", "low_memory", "cache", "past_key_values")


def _setting(model: torch.nn.Module, kwargs: dict[str, Any], key: str) -> Any:
    """``key`` as generate will see it: the call's value, else the model's generation config."""
    if key in kwargs:
        return kwargs[key]
    return getattr(getattr(model, "generation_config", None), key, None)


def _base(model: torch.nn.Module) -> PreTrainedModel:
    """The transformers model under a PEFT wrapper (LoRA layers are injected into it)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _plain_full_attention(model: torch.nn.Module) -> bool:
    """Whether the model's generate cache is a DynamicCache of plain full-attention layers."""
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and getattr(peft_config, "is_prompt_learning", False):
        return False  # prefix / prompt tuning put virtual tokens into the cache
    base = _base(model)
    config = getattr(base, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    try:
        if not base._supports_default_dynamic_cache() or not base._supports_logits_to_keep():
            return False
        layers = DynamicCache(config=config).layers
    except Exception:  # an unusual model: keep its own path
        return False
    return all(type(layer) is DynamicLayer for layer in layers)


def _resumable(model: torch.nn.Module, kwargs: dict[str, Any]) -> bool:
    if any(key in kwargs for key in _NO_RESUME) or _setting(model, kwargs, "use_cache") is False:
        return False
    if (_setting(model, kwargs, "num_beams") or 1) != 1:
        return False
    if (_setting(model, kwargs, "num_return_sequences") or 1) != 1:
        return False
    return _plain_full_attention(model)


def _compactable(model: torch.nn.Module, kwargs: dict[str, Any]) -> bool:
    if _setting(model, kwargs, "do_sample"):
        return False
    if not set(kwargs) <= _COMPACT_SAFE or _setting(model, kwargs, "max_new_tokens") is None:
        return False
    config = getattr(model, "generation_config", None)
    # The model's own generation config may hold settings the call did not name.
    for key in ("max_time", "stop_strings", "exponential_decay_length_penalty", "begin_suppress_tokens",
                "forced_bos_token_id", "min_length", "watermarking_config"):
        if key not in kwargs and getattr(config, key, None) not in (None, 0):
            return False
    return _eos_ids(model, kwargs) is not None


def _eos_ids(model: torch.nn.Module, kwargs: dict[str, Any]) -> list[int] | None:
    eos = _setting(model, kwargs, "eos_token_id")
    if eos is None:
        return None
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]


def prefill_groups(lengths: list[int], call_tokens: int = PREFILL_CALL_TOKENS) -> list[list[int]]:
    """Positions of ``lengths`` cut into prefill calls of similar length, with the least cost.

    Cost of one call: ``call_tokens`` plus rows x its longest length (what it computes, padding
    included). Rows are grouped longest first; the cuts are the cheapest ones (dynamic
    programming over the sorted lengths), so equal lengths share a call and a lone outlier
    gets its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cheapest cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):  # the last call holds sorted rows i..j-1; row i is its longest
            cost = best[i] + call_tokens + (j - i) * lengths[order[i]]
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def _prefilled_cache(model: torch.nn.Module, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor) -> DynamicCache:
    """The left-padded cache of every prompt position but the last, built without padded calls.

    Row ``r`` of ``input_ids`` (left-padded, width ``W``) has its real tokens at the right end;
    the cache covers columns ``0..W-2`` with each row's keys and values right-aligned, zeros
    where the row is padding (masked by ``attention_mask`` like the padding they replace).
    """
    base = _base(model)
    width = input_ids.shape[1] - 1
    real = attention_mask[:, :width].sum(dim=1).tolist()
    keys: list[Any] = []
    values: list[Any] = []
    for group in prefill_groups([int(n) for n in real]):
        if real[group[0]] == 0:
            continue  # one-token prompts: nothing to cache, the zeros stay (masked)
        span = int(real[group[0]])
        rows = torch.tensor(group, device=input_ids.device)
        ids = input_ids[rows, width - span:width]
        mask = attention_mask[rows, width - span:width]
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)  # what generate computes
        cache = DynamicCache(config=base.config)
        base(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
             use_cache=True, logits_to_keep=1)
        for layer_index, layer in enumerate(cache.layers):
            if len(keys) <= layer_index:
                shape = (input_ids.shape[0], layer.keys.shape[1], width, layer.keys.shape[3])
                keys.append(layer.keys.new_zeros(shape))
                values.append(layer.values.new_zeros((*shape[:3], layer.values.shape[3])))
            keys[layer_index][rows, :, width - span:] = layer.keys
            values[layer_index][rows, :, width - span:] = layer.values
    if not keys:
        return None
    return DynamicCache(list(zip(keys, values)), config=base.config)


class _StopWhenSparse:
    """A stopping criterion that ends the call (every row) once few rows are still live.

    It records which rows emitted EOS; generate's own EOS criterion has already made those
    rows pad, and ``stopped`` says whether this criterion ended the call early.
    """

    def __init__(self, eos_ids: list[int], rows: int, steps: int, device: Any) -> None:
        self.eos = torch.tensor(eos_ids, device=device)
        self.finished = torch.zeros(rows, dtype=torch.bool, device=device)
        self.rows, self.steps_left, self.stopped = rows, steps, False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.finished |= torch.isin(input_ids[:, -1], self.eos)
        self.steps_left -= 1
        live = self.rows - int(self.finished.sum())
        if 0 < live <= self.rows * LIVE_SHARE and self.steps_left >= MIN_STEPS_LEFT:
            self.stopped = True
            return torch.ones(self.rows, dtype=torch.bool, device=input_ids.device)
        return torch.zeros(self.rows, dtype=torch.bool, device=input_ids.device)


def generate_ids(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 kwargs: dict[str, Any],
                 *, pad_id: int) -> torch.Tensor:
    """The generated ids of a left-padded batch, ``[rows, new tokens]``, as one ``generate`` gives them.

    ``kwargs`` are ``generate``'s (``max_new_tokens``, a ``prefix_allowed_tokens_fn`` that reads
    ``input_ids[prompt width:]``, ...). Rows shorter than the longest answer end in ``pad_id``,
    as in a plain call. See the module docstring for what is skipped and when.
    """
    width = input_ids.shape[1]
    if not _resumable(model, kwargs):
        ids = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return getattr(ids, "sequences", ids)[:, width:]
    cache = _prefilled_cache(model, input_ids, attention_mask) if width > 1 else None
    if not _compactable(model, kwargs):
        call = dict(kwargs, cache=cache) if cache is not None else kwargs
        ids = model.generate(input_ids=input_ids, attention_mask=attention_mask, **call)
        return getattr(ids, "sequences", ids)[:, width:]

    total = int(_setting(model, kwargs, "max_new_tokens"))
    least = int(kwargs.get("min_new_tokens") or 0)
    eos_ids = _eos_ids(model, kwargs)
    answers: list[Any] = [None] * input_ids.shape[0]
    index = torch.arange(input_ids.shape[0])  # the rows of the batch that are still live
    done = 0  # tokens generated so far by the live rows
    ids, mask = input_ids, attention_mask
    while True:
        call = dict(kwargs, max_new_tokens=total - done)
        if "min_new_tokens" in kwargs:
            call["min_new_tokens"] = max(0, least - done)
        if cache is not None:
            call["cache"] = cache
        stop = _StopWhenSparse(eos_ids, ids.shape[0], total - done, ids.device)
        out = model.generate(input_ids=ids, attention_mask=mask, stopping_criteria=StoppingCriteriaList([stop]),
                             return_dict_in_generate=True, **call)
        sequences = out.sequences
        if not stop.stopped:
            for row, seq in zip(index.tolist(), sequences[:, width:]):
                answers[row] = seq
            break
        live = ~stop.finished
        for row, seq in zip(index[~live.cpu()].tolist(), sequences[~live, width:]):
            answers[row] = seq
        keep = live.nonzero().flatten()
        cache = out.cache
        cache.batch_select_indices(keep)
        grown = sequences.shape[1] - mask.shape[1]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], grown))], dim=1)[keep]
        ids, index = sequences[keep], index[live.cpu()]
        done = sequences.shape[1] - width
    longest = max(a.shape[0] for a in answers)
    result = input_ids.new_full((len(answers), longest), pad_id)
    for row, answer in enumerate(answers):
        result[row, : answer.shape[0]] = answer
    return result
