"""Generate one answer while streaming its text, interruptibly.

``model.generate`` runs in a worker thread and feeds a ``transformers.TextIteratorStreamer``;
the calling (main) thread reads the text pieces and hands them to ``on_text``. Keeping the main
thread free is what makes the notebook's stop button work: the KeyboardInterrupt lands in the
main thread, which sets a flag that a ``StoppingCriteria`` in the worker checks at every step, so
generation ends at the next token and what was generated so far is kept.
"""
from __future__ import annotations

import contextlib
import queue
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from llm_magic.runtime.generation.result import GenerationResult

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import PreTrainedTokenizerBase


__all__ = ["StopFlag", "eval_mode", "fresh_seed", "generate_one", "model_device", "thread_count"]


def fresh_seed() -> int:
    """A random seed for a call that was given none (recorded in the result, to reproduce it)."""
    # Drawn from the OS, not from `random`: set_seed() reseeds `random` on every call, which
    # would make each "fresh" seed a function of the previous one.
    return secrets.randbelow(2**31)


# How long the main thread waits for the next text piece before checking on the worker again;
# short so a crashed worker or an interrupt is noticed quickly, long enough to cost nothing.
_POLL_SECONDS = 0.05


def model_device(model: torch.nn.Module, default: torch.device | str | None = None) -> torch.device | str:
    """The device of ``model``'s first parameter (where inputs must go), else ``default``."""
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return default or "cpu"


@contextlib.contextmanager
def thread_count(count: int) -> Iterator[None]:
    """Run this (worker) thread's torch ops on ``count`` intra-op threads; restore afterwards.

    OpenMP keeps its thread count per thread. torch re-applies the last ``torch.set_num_threads``
    to a new thread, but a limit set only in the caller's thread (e.g. threadpoolctl's
    ``threadpool_limits``, which calls ``omp_set_num_threads`` there) would not reach the worker.
    ``torch.set_num_threads`` also changes the process-wide default, so the inherited one is put
    back when the worker is done.
    """
    # lazy: pulls torch; %load_ext stays light
    import torch

    # Set even when torch already reports ``count``: the report is the process-wide value, and
    # this thread's OpenMP setting may still be the default (one thread per core).
    inherited = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(inherited)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[Any]:
    """Generate with dropout off (a model fresh from training is in train mode); restore after."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


def StopFlag(event: threading.Event):  # noqa: N802 - builds a StoppingCriteria instance
    """A ``StoppingCriteria`` that ends generation once ``event`` is set (built lazily: torch)."""
    # lazy: pulls torch; %load_ext stays light
    import torch
    from transformers import StoppingCriteria

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool, device=input_ids.device)

    return _Stop()


def generate_one(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    hf_kwargs: dict[str, Any],
    *,
    seed: int | None = None,
    on_text: Callable[[str], None] | None = None,
    settings: dict[str, Any] | None = None,
    label: str = "",
    device: Any = None,
    add_special_tokens: bool = True,
    max_prompt_tokens: int | None = None,
    prompt_limits: Any = None,
) -> GenerationResult:
    """Generate a continuation of ``prompt`` and return a :class:`GenerationResult`.

    ``hf_kwargs`` go to ``model.generate`` as they are. ``on_text(text_so_far)`` is called in the
    calling thread as text arrives (once at the end for beam search, which HF cannot stream).
    ``seed`` (chosen at random and recorded when None) makes sampling reproducible;
    ``add_special_tokens=False`` is for prompts that hold them already (chat templates).
    ``prompt_limits`` (a ``runtime.data.SequenceLimits``) cuts the prompt as training cut it; then
    a prompt longer than ``max_prompt_tokens`` keeps its *last* tokens (as Ludwig does at
    prediction; see :mod:`.inputs`). After a cut, ``result.prompt`` is the text the model saw. A
    KeyboardInterrupt during generation (the notebook's stop button, or one raised by
    ``on_text``) stops it cleanly: the result then has ``interrupted=True`` and the partial text.
    The worker thread computes on as many threads as the caller, fitted to the machine's load
    first (:func:`llm_magic.runtime.threads.fit_threads_to_load`).
    """
    # lazy: pulls torch; %load_ext stays light
    import torch
    from transformers import StoppingCriteriaList, TextIteratorStreamer, set_seed

    # lazy: pulls torch; %load_ext stays light
    from llm_magic.runtime.generation.inputs import cut_ids
    from llm_magic.runtime.threads import fit_threads_to_load

    if seed is None:
        seed = fresh_seed()
    device = device if device is not None else model_device(model)
    full = list(tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"])
    ids = cut_ids(full, tokenizer, prompt_limits, max_prompt_tokens)
    if ids != full:
        prompt = tokenizer.decode(ids, skip_special_tokens=False)
    inputs = {"input_ids": torch.tensor([ids], dtype=torch.long, device=device),
              "attention_mask": torch.ones((1, len(ids)), dtype=torch.long, device=device)}
    prompt_len = inputs["input_ids"].shape[1]

    kwargs = dict(hf_kwargs)
    kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
    stop = threading.Event()
    criteria = StoppingCriteriaList(list(kwargs.pop("stopping_criteria", None) or []))
    criteria.append(StopFlag(stop))
    # HF refuses a streamer with beam search; those runs report their text once, at the end.
    streams = int(kwargs.get("num_beams") or 1) == 1
    streamer = (
        TextIteratorStreamer(tokenizer, skip_prompt=True, timeout=_POLL_SECONDS, skip_special_tokens=True)
        if streams else None
    )
    outcome: dict[str, Any] = {}
    threads = fit_threads_to_load()  # set and read in the caller: the count is per-thread state

    def work() -> None:
        try:
            with thread_count(threads):
                outcome["ids"] = model.generate(
                    **inputs, **kwargs, stopping_criteria=criteria, streamer=streamer
                )
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc
        finally:
            if streamer is not None:
                streamer.end()  # unblocks the reader even when generate() failed early

    set_seed(seed)
    started = time.perf_counter()
    worker = threading.Thread(target=work, name="llm-magic-generate", daemon=True)
    with eval_mode(model):
        worker.start()
        streamed, interrupted = _follow(worker, streamer, stop, on_text)
    seconds = time.perf_counter() - started
    if "error" in outcome:
        raise outcome["error"]

    sequences = outcome["ids"]
    sequences = getattr(sequences, "sequences", sequences)
    new_ids = sequences[0, prompt_len:]
    text = tokenizer.decode(new_ids, skip_special_tokens=True)
    tokens = _count_generated(new_ids, tokenizer)
    if on_text is not None and not interrupted and text != streamed:
        on_text(text)
    return GenerationResult(
        text=text, prompt=prompt, settings=dict(settings or {}), tokens=tokens, seconds=seconds,
        seed=seed, interrupted=interrupted, label=label,
    )


def _follow(worker: threading.Thread, streamer: Any, stop: threading.Event,
            on_text: Callable[[str], None] | None) -> tuple[str, bool]:
    """Read the streamer in the calling thread until the worker is done; (text, interrupted)."""
    streamed = ""
    interrupted = False
    try:
        while True:
            try:
                if streamer is None:
                    worker.join(_POLL_SECONDS)
                    if not worker.is_alive():
                        break
                    continue
                try:
                    piece = next(streamer)
                except StopIteration:
                    break
                except queue.Empty:
                    continue
                streamed += piece
                if on_text is not None and not interrupted:
                    on_text(streamed)
            except KeyboardInterrupt:
                # Stop at the next token, then keep draining so the worker can hand back its ids.
                interrupted = True
                stop.set()
    finally:
        # Any other error in the caller's callback: stop the worker before propagating it.
        stop.set()
        worker.join()
    return streamed, interrupted


def _count_generated(new_ids: torch.Tensor, tokenizer: PreTrainedTokenizerBase) -> int:
    """Generated tokens, not counting the padding HF appends after an early EOS."""
    pad = tokenizer.pad_token_id
    ids = new_ids.tolist()
    eos = tokenizer.eos_token_id
    # Trailing pad tokens are filler, except the first one when pad == eos (the real EOS).
    count = len(ids)
    while count and ids[count - 1] == pad:
        count -= 1
    if pad is not None and pad == eos and count < len(ids):
        count += 1
    return count
