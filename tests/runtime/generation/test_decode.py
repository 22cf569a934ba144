"""decode.generate_ids: no padded prefill, finished rows dropped, and the same tokens as one generate."""
from __future__ import annotations

import random

import pytest
import torch

from llm_magic.runtime.generation import decode
from llm_magic.runtime.generation.batch import generate_batch
from llm_magic.runtime.generation.inputs import left_padded

WORDS = "the quick brown fox jumps over lazy dog model tests runs fast cat sat on mat".split()


def _prompts(count: int = 24, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))) for _ in range(count)]


def _batch(tok, prompts):
    return left_padded([tok(p)["input_ids"] for p in prompts], tok.pad_token_id)


def _plain(model, batch, kwargs):
    with torch.inference_mode():
        return model.generate(**batch, **kwargs)[:, batch["input_ids"].shape[1]:]


def _ours(model, batch, kwargs, pad_id, monkeypatch):
    """generate_ids, and the number of rows of each generate call it made."""
    rows = []
    original = model.generate

    def spy(*args, **kw):
        rows.append(kw["input_ids"].shape[0])
        return original(*args, **kw)

    monkeypatch.setattr(model, "generate", spy)
    with torch.inference_mode():
        out = decode.generate_ids(model, batch["input_ids"], batch["attention_mask"], kwargs, pad_id=pad_id)
    monkeypatch.undo()
    return out, rows


# A small bias towards EOS makes the random model end rows at different steps (0.4: 2-19 tokens).
@pytest.mark.parametrize("bias", [0.4, 0.6])
def test_greedy_drops_finished_rows_and_gives_the_same_tokens(tiny_lm, monkeypatch, bias):
    model, tok = tiny_lm
    batch = _batch(tok, _prompts())
    kwargs = {"max_new_tokens": 24, "do_sample": False, "pad_token_id": tok.pad_token_id,
              "sequence_bias": [[[tok.eos_token_id], bias]]}
    reference = _plain(model, batch, kwargs)
    ours, rows = _ours(model, batch, kwargs, tok.pad_token_id, monkeypatch)
    assert ours.shape == reference.shape
    assert torch.equal(ours, reference)
    # The finished rows were left out of the later calls: each call had fewer rows.
    assert len(rows) > 1 and rows[0] == 24 and all(a > b for a, b in zip(rows, rows[1:]))


def test_min_new_tokens_counts_across_compactions(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    batch = _batch(tok, _prompts(seed=1))
    kwargs = {"max_new_tokens": 20, "min_new_tokens": 3, "do_sample": False, "pad_token_id": tok.pad_token_id,
              "sequence_bias": [[[tok.eos_token_id], 0.5]]}
    reference = _plain(model, batch, kwargs)
    ours, rows = _ours(model, batch, kwargs, tok.pad_token_id, monkeypatch)
    assert len(rows) > 1
    assert torch.equal(ours, reference)


def test_sampling_under_a_seed_is_the_same_and_not_compacted(tiny_lm, monkeypatch):
    from transformers import set_seed

    model, tok = tiny_lm
    batch = _batch(tok, _prompts(seed=2))
    kwargs = {"max_new_tokens": 12, "do_sample": True, "top_k": 50, "pad_token_id": tok.pad_token_id,
              "sequence_bias": [[[tok.eos_token_id], 0.4]]}
    set_seed(7)
    reference = _plain(model, batch, kwargs)
    set_seed(7)
    ours, rows = _ours(model, batch, kwargs, tok.pad_token_id, monkeypatch)
    assert rows == [24]  # the draws are over the whole batch: a smaller one would draw others
    assert torch.equal(ours, reference)


def test_beam_search_is_one_plain_call(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    batch = _batch(tok, _prompts(count=4, seed=3))
    kwargs = {"max_new_tokens": 6, "num_beams": 2, "do_sample": False, "pad_token_id": tok.pad_token_id}
    reference = _plain(model, batch, kwargs)
    ours, rows = _ours(model, batch, kwargs, tok.pad_token_id, monkeypatch)
    assert rows == [4]
    assert torch.equal(ours, reference)


def test_generate_batch_answers_match_plain_padded_generate(tiny_lm):
    model, tok = tiny_lm
    prompts = _prompts(count=10, seed=4)
    kwargs = {"max_new_tokens": 16, "do_sample": False, "sequence_bias": [[[tok.eos_token_id], 0.4]]}
    ours = generate_batch(model, tok, prompts, kwargs, batch_size=10)
    order = sorted(range(len(prompts)), key=lambda i: -len(tok(prompts[i])["input_ids"]))
    ids = _plain(model, _batch(tok, [prompts[i] for i in order]), {**kwargs, "pad_token_id": tok.pad_token_id})
    texts = dict(zip(order, tok.batch_decode(ids, skip_special_tokens=True)))
    assert ours == [texts[i] for i in range(len(prompts))]


def test_prefill_groups_cover_every_row_once_and_keep_equal_lengths_together():
    lengths = [50, 10, 10, 10, 49, 200, 11]
    groups = decode.prefill_groups(lengths, call_tokens=8)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert [5] in groups  # the outlier pays for its own call rather than padding six rows to 200
    assert any({1, 2, 3} <= set(g) for g in groups)
    for group in groups:  # each call's first row is its longest
        assert lengths[group[0]] == max(lengths[i] for i in group)
    # A costly call merges everything: one call, padded to the longest.
    assert decode.prefill_groups(lengths, call_tokens=10_000) == [[5, 0, 4, 6, 1, 2, 3]]


def test_a_lora_model_on_and_off_gives_the_same_tokens(tiny_dir, monkeypatch):
    import contextlib

    from peft import LoraConfig, get_peft_model

    from tests.runtime.generation.conftest import load_tiny

    model, tok = load_tiny(tiny_dir)  # a fresh copy: the adapter is injected into its layers
    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False)).eval()
    batch = _batch(tok, _prompts(seed=5))
    kwargs = {"max_new_tokens": 16, "do_sample": False, "pad_token_id": tok.pad_token_id,
              "sequence_bias": [[[tok.eos_token_id], 0.4]]}
    for base in (False, True):  # --compare runs the base model with the adapter switched off
        with peft_model.disable_adapter() if base else contextlib.nullcontext():
            reference = _plain(peft_model, batch, kwargs)
            ours, rows = _ours(peft_model, batch, kwargs, tok.pad_token_id, monkeypatch)
        assert torch.equal(ours, reference)
        assert len(rows) > 1


@pytest.mark.parametrize("arch, overrides, resumed", [
    ("mistral", {"sliding_window": 8}, False),  # a sliding-window cache: one plain generate call
    ("qwen2", {}, True),
    ("gpt2", {}, True),
])
def test_other_architectures_give_the_same_tokens(tmp_path, monkeypatch, arch, overrides, resumed):
    from tests.runtime.generation.conftest import load_tiny
    from tests.tiny_models import build_tiny_model

    model, tok = load_tiny(build_tiny_model(arch, tmp_path / arch, **overrides))
    batch = _batch(tok, _prompts(count=12, seed=6))
    kwargs = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": tok.pad_token_id,
              "sequence_bias": [[[tok.eos_token_id], 0.4]]}
    assert decode._resumable(model, kwargs) is resumed
    reference = _plain(model, batch, kwargs)
    ours, rows = _ours(model, batch, kwargs, tok.pad_token_id, monkeypatch)
    assert torch.equal(ours, reference)
    if not resumed:
        assert rows == [12]
