"""The loss at label positions only (training.loss): the model's own loss and gradients, exactly."""
from __future__ import annotations

import pytest
import torch

from llm_magic.runtime.training import loss as loss_module
from llm_magic.runtime.training.loggers import RecordingLogger
from llm_magic.runtime.training.loss import label_only_loss, loss_parts
from llm_magic.runtime.training.runner import run_job
from llm_magic.runtime.training.settings import settings_from_config
from llm_magic.runtime.training.trainer import LlmTrainer
from tests.runtime.training.training_helpers import make_job, make_state
from tests.tiny_models import tiny_config


def _model(arch, lora=True, **overrides):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = tiny_config(arch, **overrides) if isinstance(arch, str) else arch
    model = AutoModelForCausalLM.from_config(config)
    if lora:
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                 target_modules="all-linear"))
    return model.train()


def _gemma2_softcapped():
    from transformers import Gemma2Config

    base = tiny_config("gemma")
    return Gemma2Config(vocab_size=base.vocab_size, hidden_size=64, intermediate_size=128,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                        max_position_embeddings=256, final_logit_softcapping=3.0, sliding_window=64)


def _batch(vocab, rows=3, width=12):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, vocab, (rows, width), generator=generator)
    mask = torch.ones_like(ids)
    labels = ids.clone()
    for row, (prompt, length) in enumerate([(5, 12), (2, 7), (8, 10)][:rows]):
        labels[row, :prompt] = -100  # the prompt
        mask[row, length:] = 0  # right padding
        labels[row, length:] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma", "gpt2", "gemma2-softcap"])
@pytest.mark.parametrize("count", [None, 11])
def test_same_loss_and_gradients_as_the_model_to_1e_5(arch, count):
    # GPT-2 has dropout on by default: off, so both passes compute the same function.
    overrides = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0} if arch == "gpt2" else {}
    model = _model(_gemma2_softcapped() if arch == "gemma2-softcap" else arch, **overrides)
    vocab = model.config.vocab_size
    batch = _batch(vocab)
    extra = {} if count is None else {"num_items_in_batch": torch.tensor(count)}
    reference = model(**batch, **extra).loss
    reference.backward()
    expected = _grads(model)
    model.zero_grad()
    # Tiny chunks: several chunks, each recomputed in backward.
    ours = label_only_loss(model, batch, extra.get("num_items_in_batch"), chunk_elements=3 * vocab)
    ours.backward()
    assert ours is not None
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    got = _grads(model)
    assert got.keys() == expected.keys() and expected
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5)


def test_the_head_sees_only_the_label_positions():
    model = _model("llama")
    batch = _batch(model.config.vocab_size)
    seen = []
    head = model.get_base_model().get_output_embeddings()
    handle = head.register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
    try:
        label_only_loss(model, batch, chunk_elements=10 ** 9)
    finally:
        handle.remove()
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    # One 2-D chunk of the labelled positions, never batch x sequence x vocabulary.
    assert seen == [(labelled, model.config.vocab_size)] and labelled < batch["input_ids"].numel() // 2


def test_models_it_cannot_reproduce_keep_their_own_loss():
    from peft import PromptTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM, CohereConfig

    prompt_tuned = get_peft_model(_model("llama", lora=False),
                                  PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=2))
    assert loss_parts(prompt_tuned) is None  # virtual tokens are added in PeftModel.forward
    cohere = AutoModelForCausalLM.from_config(CohereConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, logit_scale=0.5))
    assert loss_parts(cohere) is None  # its logits are scaled
    assert label_only_loss(cohere, _batch(128)) is None


def test_training_runs_match_the_full_logits_path(lora_model, tokenizer, task, tmp_path, monkeypatch):
    calls = []
    original = loss_module.label_only_loss

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(loss_module, "label_only_loss", spy)
    settings = settings_from_config({"type": "finetune", "learning_rate": 0.01, "epochs": 1, "batch_size": 4,
                                     "gradient_accumulation_steps": 2, "should_shuffle": False})
    runs = {}
    for fast in (True, False):
        monkeypatch.setattr(LlmTrainer, "label_only_loss", fast)
        log = RecordingLogger()
        run_job(make_job(settings, task(validation=None, test=None), output_dir=str(tmp_path / str(fast)),
                         run_id=str(fast)),
                lora_model(), tokenizer, make_state(), loggers=[log])
        runs[fast] = [v for _, v in log.series("loss")]
    assert calls and all(calls)  # the fast path ran, and only in the first run
    assert len(runs[True]) == len(runs[False]) >= 2
    assert runs[True] == pytest.approx(runs[False], abs=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gpt_neox", "phi"])
def test_the_last_mlp_runs_only_where_the_head_scores(arch):
    """The last layer's MLP sees the scored positions only; loss and gradients stay the model's."""
    model = _model(arch)
    batch = _batch(model.config.vocab_size)
    reference = model(**batch).loss
    reference.backward()
    expected = _grads(model)
    model.zero_grad()
    decoder = loss_parts(model)[0]
    mlp = loss_module._last_mlp(decoder)
    seen = []
    # A forward hook sees the arguments the MLP ran on (after the pre-hooks).
    handle = mlp.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    try:
        ours = label_only_loss(model, batch)
    finally:
        handle.remove()
    ours.backward()
    scored = int((batch["labels"][:, 1:] != -100).sum())
    assert len(seen) == 1 and seen[0][0] == scored  # rows, not batch x sequence
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    got = _grads(model)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5)


def test_an_mlp_with_dropout_or_checkpointing_stays_whole():
    gpt2 = _model("gpt2")  # resid_pdrop 0.1 inside its MLP
    assert loss_module._last_mlp(loss_parts(gpt2)[0]) is None
    llama = _model("llama", lora=False)
    llama.gradient_checkpointing_enable()
    assert loss_module._last_mlp(loss_parts(llama)[0]) is None
    llama.gradient_checkpointing_disable()
    assert loss_module._last_mlp(loss_parts(llama)[0]) is not None
