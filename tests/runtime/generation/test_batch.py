"""generate_batch: left padding for generation only, one answer per prompt, progress, constraints."""
from __future__ import annotations

from llm_magic.runtime.generation.batch import generate_batch
from llm_magic.runtime.generation.streaming import generate_one

PROMPTS = ["The quick brown fox", "A tiny model", "Question: what is two plus two? Answer:"]


def test_batched_greedy_matches_one_by_one_and_restores_padding_side(tiny_lm):
    model, tok = tiny_lm
    tok.padding_side = "right"
    kwargs = {"max_new_tokens": 6, "do_sample": False}
    done = []
    batched = generate_batch(model, tok, PROMPTS, kwargs, batch_size=2, progress=done.append)
    single = [generate_one(model, tok, p, kwargs).text for p in PROMPTS]
    assert batched == single
    assert tok.padding_side == "right"
    assert done == [2, 1]


def test_labels_constrain_generation_to_the_vocabulary(tiny_lm):
    model, tok = tiny_lm
    labels = ["positive", "negative"]
    # max_new_tokens 2 is too short for a label: the constraint makes room for the longest one.
    out = generate_batch(model, tok, PROMPTS, {"max_new_tokens": 2, "do_sample": True}, batch_size=3,
                         seed=0, labels=labels)
    assert len(out) == 3
    assert all(text.strip() in labels for text in out), out


def test_over_long_prompts_are_cut_on_the_left(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    widths = []
    original = model.generate

    def spy(*args, **kwargs):
        widths.append(kwargs["input_ids"].shape[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    too_long = "the quick brown fox " * 200  # far beyond the tiny model's 256 positions
    out = generate_batch(model, tok, [too_long, "short"], {"max_new_tokens": 3, "do_sample": False},
                         batch_size=2, max_prompt_tokens=100)
    assert len(out) == 2 and widths == [100]
    assert tok.truncation_side == "right"


MIXED = ["x", "The quick brown fox jumps over the lazy dog again and again", "A tiny model",
         "Question: what is two plus two? Answer:", "hi", "one two three four five six"]


def test_sorted_automatic_batches_give_the_one_by_one_answers_in_row_order(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    kwargs = {"max_new_tokens": 5, "do_sample": False}
    single = [generate_one(model, tok, p, kwargs).text for p in MIXED]
    calls, original = [], model.generate

    def spy(*args, **kw):
        calls.append(kw["input_ids"].shape[0])
        return original(*args, **kw)

    monkeypatch.setattr(model, "generate", spy)
    assert generate_batch(model, tok, MIXED, kwargs) == single
    assert calls == [len(MIXED)]  # automatic size: the tiny model fits every row in one call
    assert generate_batch(model, tok, MIXED, kwargs, batch_size=4) == single


def test_batch_plan_runs_longest_first_and_fits_the_memory_budget(tiny_lm):
    from llm_magic.runtime.generation.plan import MAX_AUTO_ROWS, batch_plan, bytes_per_token

    model, _ = tiny_lm
    lengths = [3, 50, 7, 50, 20]
    assert batch_plan(lengths, 4, batch_size=2) == [[1, 3], [4, 2], [0]]
    per_token, per_row = bytes_per_token(model)
    # Room for exactly two rows of the longest width (50 + 4 new tokens): the long pair goes first.
    budget = 2 * (54 * per_token + per_row)
    plan = batch_plan(lengths, 4, batch_size=None, model=model, budget=budget)
    assert plan[0] == [1, 3] and sorted(i for b in plan for i in b) == list(range(5))
    assert len(plan[1]) > 2  # shorter rows: more of them per call
    assert batch_plan([5] * 200, 4, batch_size=None, model=model, budget=10**12)[0] == list(range(MAX_AUTO_ROWS))
