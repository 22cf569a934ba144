"""Adapter kinds: each becomes the real PEFT config with Ludwig's names mapped to PEFT's."""
from __future__ import annotations

import pytest

from llm_magic import LlmMagicError, load_config
from llm_magic.runtime.config import ADAPTER_TYPES

BASE = """\
base_model: llm-magic/tiny
input_features: [{name: q, type: text}]
output_features: [{name: a, type: text}]
trainer: {type: finetune}
"""

LUDWIG_TYPES = ["lora", "adalora", "ia3", "vera", "loha", "lokr", "fourierft", "boft", "tinylora", "c3a",
                "oft", "hra", "waveft", "ln_tuning", "vblora"]


def test_registry_has_ludwigs_fifteen_plus_prompt_learning():
    assert list(ADAPTER_TYPES)[:15] == LUDWIG_TYPES
    assert {"prompt_tuning", "prefix_tuning", "p_tuning"} <= set(ADAPTER_TYPES)


@pytest.mark.parametrize("kind", list(ADAPTER_TYPES))
def test_bare_string_expands_and_builds_peft_config(kind):
    import peft

    extra = "\n  prompt_tuning_init: RANDOM" if kind == "prompt_tuning" else ""
    config = load_config(BASE + f"adapter:\n  type: {kind}{extra}\n")
    assert config.adapter.type == kind
    assert load_config(BASE + f"adapter: {kind}\n").adapter == config.adapter
    peft_config = config.adapter.to_peft_config(["q_proj", "v_proj"])
    assert isinstance(peft_config, getattr(peft, type(config.adapter).peft_class))
    assert peft_config.task_type == peft.TaskType.CAUSAL_LM
    if "target_modules" in type(config.adapter).model_fields:
        assert set(peft_config.target_modules) == {"q_proj", "v_proj"}


def test_lora_names_map_to_peft():
    config = load_config(BASE + "adapter: {type: lora, r: 4, dropout: 0.1, bias_type: lora_only, "
                                "target_modules: [q_proj], use_rslora: true, loraplus_lr_ratio: 8, "
                                "layer_replication: [[0, 2], [1, 3]]}\n")
    peft_config = config.adapter.to_peft_config()
    assert (peft_config.r, peft_config.lora_alpha, peft_config.lora_dropout) == (4, 8, 0.1)  # alpha = 2r
    assert peft_config.bias == "lora_only" and peft_config.use_rslora
    assert peft_config.init_lora_weights is True  # Ludwig's `default`
    assert set(peft_config.target_modules) == {"q_proj"}
    assert peft_config.layer_replication == [(0, 2), (1, 3)]
    assert ("adapter.alpha", 8, "alpha unset: 2 * r") in config.derived


def test_lora_init_configs_become_peft_objects():
    import peft

    eva = load_config(BASE + "adapter: {type: lora, init_lora_weights: eva, eva_config: {rho: 1.5}}\n")
    peft_config = eva.adapter.to_peft_config(["q_proj"])
    assert peft_config.init_lora_weights == "eva"
    assert isinstance(peft_config.eva_config, peft.EvaConfig) and peft_config.eva_config.rho == 1.5
    pissa = load_config(BASE + "adapter: {type: lora, init_lora_weights: pissa}\n")
    assert pissa.adapter.to_peft_config(["q_proj"]).init_lora_weights == "pissa"


def test_adalora_maps_delta_t_and_schedule():
    config = load_config(BASE + "adapter: {type: adalora, init_r: 6, target_r: 2, delta_t: 7, total_step: 500}\n")
    peft_config = config.adapter.to_peft_config(["q_proj"])
    assert (peft_config.init_r, peft_config.target_r, peft_config.deltaT, peft_config.total_step) == (6, 2, 7, 500)
    assert peft_config.lora_alpha == 16


def test_c3a_and_oft_fields():
    c3a = load_config(BASE + "adapter: {type: c3a, block_size: 16, bias_type: c3a_only}\n").adapter
    assert c3a.to_peft_config(["q_proj"]).bias == "c3a_only"
    oft = load_config(BASE + "adapter: {type: oft, r: 4, oft_block_size: 0}\n").adapter
    peft_oft = oft.to_peft_config(["q_proj"])
    assert (peft_oft.r, peft_oft.oft_block_size) == (4, 0)


def test_missing_peft_class_is_a_clear_error_at_build_time(monkeypatch):
    import peft

    config = load_config(BASE + "adapter: tinylora\n")  # config time: fine
    monkeypatch.delattr(peft, "TinyLoraConfig", raising=False)
    with pytest.raises(LlmMagicError, match="tinylora.*TinyLoraConfig.*Upgrade PEFT"):
        config.adapter.to_peft_config(["q_proj"])


def test_prompt_tuning_tokenizer_defaults_to_base_model():
    config = load_config(BASE + "adapter: {type: prompt_tuning, prompt_tuning_init: TEXT, "
                                "prompt_tuning_init_text: Classify the text}\n")
    assert config.adapter.tokenizer_name_or_path == "llm-magic/tiny"
    assert config.adapter.to_peft_config().prompt_tuning_init_text == "Classify the text"


def test_multi_adapter_entries_are_typed():
    config = load_config(BASE + "adapters:\n  adapters:\n    a: lora\n    b: {type: lora, r: 4}\n")
    assert config.adapters.active_name == "a"
    assert config.adapters.adapters["b"].alpha == 8
    assert config.adapters.adapters["a"].to_peft_config(["q_proj"]).r == 8


def test_generation_kwargs_build_a_transformers_generation_config():
    from transformers import GenerationConfig

    config = load_config(BASE + "generation: {max_new_tokens: 12, do_sample: false, "
                                "exponential_decay_length_penalty: [5, 1.5]}\n")
    kwargs = config.generation.to_hf_kwargs()
    assert None not in kwargs.values() and "max_length" not in kwargs
    hf = GenerationConfig(**kwargs)
    assert hf.max_new_tokens == 12 and hf.do_sample is False
    assert hf.exponential_decay_length_penalty == (5, 1.5)


def test_quantization_bnb_kwargs_build_transformers_config():
    from transformers import BitsAndBytesConfig

    config = load_config(BASE + "adapter: lora\nquantization: {bits: 8}\n")
    bnb = BitsAndBytesConfig(**config.quantization.to_bnb_kwargs())
    assert bnb.load_in_8bit and not bnb.load_in_4bit
