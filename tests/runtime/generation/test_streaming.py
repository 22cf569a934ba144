"""generate_one: streaming, seeds, greedy determinism, interrupts, beam search, thread count."""
from __future__ import annotations

import contextlib
import threading

import pytest

from llm_magic.runtime.generation.streaming import generate_one

PROMPT = "The quick brown fox"


def test_streams_text_in_pieces_that_add_up_to_the_answer(tiny_lm):
    model, tok = tiny_lm
    seen: list[str] = []
    result = generate_one(model, tok, PROMPT, {"max_new_tokens": 40, "min_new_tokens": 40, "do_sample": True},
                          seed=3, on_text=seen.append)
    assert len(seen) > 1, "text should arrive in several pieces"
    assert all(b.startswith(a) for a, b in zip(seen, seen[1:])), "each call sees the text so far"
    assert seen[-1] == result.text
    assert result.tokens == 40
    assert result.prompt == PROMPT
    assert result.seconds > 0 and result.tokens_per_second > 0


def test_greedy_is_deterministic(tiny_lm):
    model, tok = tiny_lm
    kwargs = {"max_new_tokens": 20, "do_sample": False}
    texts = {generate_one(model, tok, PROMPT, kwargs, seed=s).text for s in (0, 1, 2)}
    assert len(texts) == 1


def test_same_seed_same_sample_different_seed_differs(tiny_lm):
    model, tok = tiny_lm
    kwargs = {"max_new_tokens": 20, "min_new_tokens": 20, "do_sample": True, "temperature": 1.5}
    a = generate_one(model, tok, PROMPT, kwargs, seed=7)
    b = generate_one(model, tok, PROMPT, kwargs, seed=7)
    c = generate_one(model, tok, PROMPT, kwargs, seed=8)
    assert a.text == b.text
    assert a.text != c.text
    assert a.seed == 7


def test_seed_is_drawn_and_recorded_when_not_given(tiny_lm):
    model, tok = tiny_lm
    kwargs = {"max_new_tokens": 12, "min_new_tokens": 12, "do_sample": True, "temperature": 1.5}
    first = generate_one(model, tok, PROMPT, kwargs)
    again = generate_one(model, tok, PROMPT, kwargs, seed=first.seed)
    assert first.seed is not None and again.text == first.text


def test_interrupt_keeps_partial_text(tiny_lm):
    model, tok = tiny_lm
    calls = []

    def stop_button(text):
        calls.append(text)
        if len(calls) == 3:
            raise KeyboardInterrupt

    result = generate_one(model, tok, PROMPT, {"max_new_tokens": 200, "min_new_tokens": 200, "do_sample": True},
                          seed=0, on_text=stop_button)
    assert result.interrupted
    assert 0 < result.tokens < 200
    assert result.text.startswith(calls[2]) or calls[2].startswith(result.text)
    # The model is still usable afterwards.
    again = generate_one(model, tok, PROMPT, {"max_new_tokens": 5, "min_new_tokens": 5, "do_sample": False})
    assert again.tokens == 5 and not again.interrupted


def test_error_in_callback_stops_worker_and_propagates(tiny_lm):
    model, tok = tiny_lm

    def broken(text):
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        generate_one(model, tok, PROMPT, {"max_new_tokens": 200, "min_new_tokens": 200}, seed=0, on_text=broken)


def test_beam_search_reports_text_once_at_the_end(tiny_lm):
    model, tok = tiny_lm
    seen: list[str] = []
    result = generate_one(model, tok, PROMPT, {"max_new_tokens": 8, "num_beams": 2, "do_sample": False},
                          on_text=seen.append)
    assert seen == [result.text]
    assert result.tokens > 0


def test_kwargs_reach_model_generate(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    received = {}
    original = type(model).generate

    def spy(self, *args, **kwargs):
        received.update(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "generate", spy)
    generate_one(model, tok, PROMPT, {"max_new_tokens": 3, "top_k": 7, "repetition_penalty": 1.3, "do_sample": True})
    assert received["top_k"] == 7 and received["repetition_penalty"] == 1.3 and received["max_new_tokens"] == 3
    assert received["pad_token_id"] == tok.pad_token_id


def test_long_prompt_keeps_its_last_tokens(tiny_lm):
    model, tok = tiny_lm
    long_prompt = "The quick brown fox jumps over the lazy dog. " * 10 + "Answer:"
    result = generate_one(model, tok, long_prompt, {"max_new_tokens": 3, "do_sample": False}, max_prompt_tokens=6)
    assert len(tok(result.prompt, add_special_tokens=False)["input_ids"]) <= 6
    assert long_prompt.endswith(result.prompt) and result.tokens > 0


@pytest.fixture
def caller_threads():
    """The caller's intra-op thread count, restored after the test; skips on a 1-core machine."""
    import torch

    before = torch.get_num_threads()
    if before < 2:
        pytest.skip("needs a default of 2+ threads to tell a limit of 1 apart")
    yield before
    torch.set_num_threads(before)


def _limit_with_torch():
    import torch

    torch.set_num_threads(1)
    return contextlib.nullcontext()


def _limit_with_threadpoolctl():
    # threadpoolctl (scikit-learn's helper) sets OpenMP's count for the calling thread only.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return threadpoolctl.threadpool_limits(limits=1, user_api="openmp")


@pytest.mark.parametrize("limit", [_limit_with_torch, _limit_with_threadpoolctl], ids=["torch", "threadpoolctl"])
def test_worker_thread_generates_with_the_callers_thread_count(tiny_lm, caller_threads, monkeypatch, limit):
    import torch

    model, tok = tiny_lm
    original, seen = model.generate, []

    def spy(*args, **kwargs):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    with limit():
        assert torch.get_num_threads() == 1
        generate_one(model, tok, "hello", {"max_new_tokens": 2, "do_sample": False})
    assert seen == [("llm-magic-generate", 1)]
    if limit is _limit_with_threadpoolctl:
        # The worker's change does not leak: a fresh thread gets the default count again.
        fresh = []
        thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert fresh == [caller_threads]
