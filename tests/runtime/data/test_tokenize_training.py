"""tokenize_for_training: prompt masking, EOS, truncation and its report; the collator's padding."""
from __future__ import annotations

import pytest

from llm_magic.runtime.data import (
    SequenceLimits,
    make_data_collator,
    plan_truncation,
    tokenize_for_training,
)

PROMPTS = ["Question: what is two plus two? Answer:", "Translate English to French: the cat"]
TARGETS = [" four.", " le chat"]


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_prompt_masked_target_and_eos_scored(tokenizer):
    data = tokenize_for_training(tokenizer, PROMPTS, TARGETS)
    assert len(data) == 2
    eos = tokenizer.eos_token_id
    for row, prompt, target in zip(data, PROMPTS, TARGETS):
        p_ids, t_ids = _ids(tokenizer, prompt), _ids(tokenizer, target)
        assert row["input_ids"] == p_ids + t_ids + [eos]
        assert row["labels"] == [-100] * len(p_ids) + t_ids + [eos]
        assert row["attention_mask"] == [1] * len(row["input_ids"])
    assert data.truncation.rows_truncated == 0
    assert data.truncation.summary() == "No truncation: all 2 rows fit the sequence limits."


def test_prompt_truncation_keeps_the_end(tokenizer):
    p_ids = _ids(tokenizer, PROMPTS[0])
    data = tokenize_for_training(tokenizer, PROMPTS[:1], TARGETS[:1], max_input_len=4)
    row = data[0]
    t_len = len(_ids(tokenizer, TARGETS[0])) + 1
    assert row["input_ids"][:4] == p_ids[-4:]  # "... Answer:" survives, the start is cut
    assert row["labels"][:4] == [-100] * 4 and -100 not in row["labels"][4:]
    assert data.truncation.cuts == {0: (len(p_ids) - 4, 0)}
    assert len(row["input_ids"]) == 4 + t_len


def test_leading_bos_survives_prompt_truncation(tokenizer):
    bos = tokenizer.bos_token_id
    prompt = tokenizer.bos_token + PROMPTS[0]
    full = _ids(tokenizer, prompt)
    assert full[0] == bos
    row = tokenize_for_training(tokenizer, [prompt], TARGETS[:1], max_input_len=3)[0]
    assert row["input_ids"][:3] == [bos] + full[-2:]


def test_target_truncation_keeps_the_start_and_drops_eos(tokenizer):
    t_ids = _ids(tokenizer, TARGETS[1])
    assert len(t_ids) >= 2
    data = tokenize_for_training(tokenizer, PROMPTS[1:], TARGETS[1:], max_target_len=2)
    row = data[0]
    assert row["labels"][-2:] == t_ids[:2]
    assert tokenizer.eos_token_id not in row["input_ids"]
    assert data.truncation.cuts == {0: (0, len(t_ids) + 1 - 2)}


def test_global_limit_cuts_prompt_first_then_target(tokenizer):
    p_len, t_len = len(_ids(tokenizer, PROMPTS[0])), len(_ids(tokenizer, TARGETS[0])) + 1
    total = p_len + t_len - 3
    data = tokenize_for_training(tokenizer, PROMPTS[:1], TARGETS[:1], global_max_len=total)
    assert len(data[0]["input_ids"]) == total
    assert data.truncation.cuts == {0: (3, 0)}  # the whole target survives
    # The prompt keeps at least half the budget; then the target gives way.
    assert plan_truncation(100, 80, SequenceLimits(max_total=100)) == (50, 50)
    assert plan_truncation(30, 80, SequenceLimits(max_total=100)) == (30, 70)
    assert plan_truncation(300, 10, SequenceLimits(max_input=200, max_total=100)) == (90, 10)


def test_truncation_report_counts(tokenizer):
    data = tokenize_for_training(tokenizer, PROMPTS, TARGETS, max_input_len=5, max_target_len=2)
    report = data.truncation
    p_cut = sum(len(_ids(tokenizer, p)) - 5 for p in PROMPTS)
    t_cut = sum(len(_ids(tokenizer, t)) + 1 - 2 for t in TARGETS)
    assert (report.rows, report.rows_truncated) == (2, 2)
    assert (report.prompt_tokens_cut, report.target_tokens_cut) == (p_cut, t_cut)
    assert report.summary().startswith(f"2 of 2 rows truncated: {p_cut} prompt tokens cut from the start, "
                                       f"{t_cut} target tokens cut from the end")


def test_collator_pads_with_pad_id_and_masks_padding(tokenizer):
    data = tokenize_for_training(tokenizer, PROMPTS, TARGETS)
    batch = make_data_collator(tokenizer)([data[0], data[1]])
    pad = tokenizer.pad_token_id
    lengths = [len(r["input_ids"]) for r in data]
    width = max(lengths)
    assert min(lengths) < width  # at least one row is padded
    assert batch["input_ids"].shape == (2, width)
    for i, row in enumerate(data):
        n = len(row["input_ids"])
        pad_positions = list(range(n, width)) if tokenizer.padding_side == "right" else list(range(width - n))
        real = [j for j in range(width) if j not in pad_positions]
        ids, labels, mask = (batch[k][i].tolist() for k in ("input_ids", "labels", "attention_mask"))
        assert [ids[j] for j in real] == row["input_ids"]
        assert all(ids[j] == pad for j in pad_positions)
        assert all(mask[j] == 0 for j in pad_positions) and all(mask[j] == 1 for j in real)
        # -100 exactly on prompt and padding positions.
        n_prompt = row["labels"].count(-100)
        masked = {j for j, value in enumerate(labels) if value == -100}
        assert masked == set(pad_positions) | set(real[:n_prompt])


def test_collator_with_pad_equal_to_eos_keeps_eos_attended_and_scored():
    from tests.tiny_models import build_tiny_tokenizer

    from llm_magic.runtime.data import ensure_pad_token

    tok = ensure_pad_token(build_tiny_tokenizer())
    assert tok.pad_token_id == tok.eos_token_id
    data = tokenize_for_training(tok, ["Question:", "Question: what is it? Answer:"], [" four.", " x"])
    batch = make_data_collator(tok)([data[0], data[1]])
    eos = tok.eos_token_id
    for i, row in enumerate(data):
        n = len(row["input_ids"])
        eos_at = n - 1 if tok.padding_side == "right" else batch["input_ids"].shape[1] - 1
        assert batch["input_ids"][i, eos_at] == eos
        assert batch["attention_mask"][i, eos_at] == 1 and batch["labels"][i, eos_at] == eos


def test_mismatched_lengths(tokenizer):
    with pytest.raises(ValueError):
        tokenize_for_training(tokenizer, PROMPTS, TARGETS[:1])
