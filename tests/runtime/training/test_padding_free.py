"""Padding-free batches (training.packing): the padded batch's loss exactly, and where they apply."""
from __future__ import annotations

import pytest
import torch

from llm_magic.runtime.training import packing
from llm_magic.runtime.training.loggers import RecordingLogger
from llm_magic.runtime.training.loss import label_only_loss
from llm_magic.runtime.training.runner import run_job
from llm_magic.runtime.training.settings import settings_from_config
from tests.runtime.training.training_helpers import WORDS, make_job, make_state


def _rows(tokenizer, n=5):
    from llm_magic.runtime.data.tokenize import tokenize_for_training

    prompts = [f"Say {' '.join(WORDS[: i + 1])}:" for i in range(n)]  # different lengths
    return list(tokenize_for_training(tokenizer, prompts, [f" {w}" for w in WORDS[:n]]).rows)


def test_flattened_batch_has_the_padded_batch_loss(lora_model, tokenizer):
    from llm_magic.runtime.data.tokenize import make_data_collator

    model = lora_model().train()
    rows = _rows(tokenizer)
    padded = make_data_collator(tokenizer)(rows)
    flat = packing.padding_free_collator()(rows)
    assert flat["input_ids"].shape[0] == 1 and "attention_mask" not in flat
    assert flat["input_ids"].shape[1] == sum(len(r["input_ids"]) for r in rows) < padded["input_ids"].numel()
    count = int((padded["labels"][:, 1:] != -100).sum())
    assert int((flat["labels"][:, 1:] != -100).sum()) == count
    n = torch.tensor(count)
    for compute in (lambda b: model(**b, num_items_in_batch=n).loss,
                    lambda b: label_only_loss(model, b, n)):
        expected = compute(padded)
        torch.testing.assert_close(compute(flat), expected, atol=1e-5, rtol=1e-5)


def test_applies_only_with_varlen_attention(lora_model):
    model = lora_model()
    assert model.get_base_model().config._attn_implementation == "sdpa"
    assert not packing.padding_free_applies(model)  # the CPU: length grouping instead
    model.get_base_model().config._attn_implementation = "flash_attention_2"
    assert packing.padding_free_applies(model)


def test_training_with_padding_free_batches_matches_padded(lora_model, tokenizer, task, tmp_path, monkeypatch):
    settings = settings_from_config({"type": "finetune", "learning_rate": 0.01, "epochs": 1, "batch_size": 4,
                                     "should_shuffle": False})
    collated = []
    original = packing.padding_free_collator

    def spy():
        collator = original()
        return lambda rows: collated.append(len(rows)) or collator(rows)

    monkeypatch.setattr(packing, "padding_free_collator", spy)
    losses = {}
    for flat in (True, False):
        monkeypatch.setattr(packing, "padding_free_applies", lambda model, flat=flat: flat)
        log = RecordingLogger()
        run_job(make_job(settings, task(validation=None, test=None), output_dir=str(tmp_path / str(flat)),
                         run_id=str(flat)),
                lora_model(), tokenizer, make_state(), loggers=[log])
        losses[flat] = [v for _, v in log.series("loss")]
    assert collated == [4, 4, 4]  # the flattening collator built every training batch
    assert losses[True] == pytest.approx(losses[False], abs=1e-5) and len(losses[True]) == 3
