"""Shuffled training batches group rows of similar length, so mixed-length data pads little."""
from __future__ import annotations

from llm_magic.runtime.training.runner import build_arguments
from llm_magic.runtime.training.settings import settings_from_config


def _rows(lengths):
    return [{"input_ids": [5] * n, "attention_mask": [1] * n, "labels": [5] * n} for n in lengths]


def test_shuffled_runs_group_by_length_and_ordered_runs_keep_order(tmp_path):
    shuffled = build_arguments(settings_from_config({"type": "finetune"}), str(tmp_path), 10, False, [])
    ordered = build_arguments(settings_from_config({"type": "finetune", "should_shuffle": False}),
                              str(tmp_path), 10, False, [])
    assert shuffled.train_sampling_strategy == "group_by_length"
    assert ordered.train_sampling_strategy == "sequential"


def test_batches_of_mixed_length_rows_pad_little(tmp_path, lora_model, tokenizer):
    from llm_magic.runtime.data.tokenize import make_data_collator
    from llm_magic.runtime.training.trainer import LlmTrainer

    # Short and long rows interleaved: random batches of 4 would nearly all hold a long row and
    # pad the short ones to it (about 1.8x the real tokens); grouped batches are (almost) uniform.
    lengths = [3, 40] * 32
    settings = settings_from_config({"type": "finetune", "batch_size": 4})
    args = build_arguments(settings, str(tmp_path), steps_per_epoch=16, has_eval=False, notes=[])
    trainer = LlmTrainer(model=lora_model(), args=args, train_dataset=_rows(lengths),
                         data_collator=make_data_collator(tokenizer), processing_class=tokenizer,
                         settings=settings)
    batches = list(trainer.get_train_dataloader())
    computed = sum(batch["input_ids"].numel() for batch in batches)
    assert sum(batch["input_ids"].shape[0] for batch in batches) == len(lengths)  # every row, once
    assert computed <= 1.25 * sum(lengths)
