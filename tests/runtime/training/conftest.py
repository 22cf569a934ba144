"""Fixtures for training tests: a tiny random Llama (built once per module), LoRA copies of it,
and a tiny "say the word" task tokenized with the real training tokenization."""
from __future__ import annotations

import pytest

from tests.runtime.training.training_helpers import WORDS, pairs
from tests.tiny_models import build_tiny_model


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A tiny random-weight Llama folder."""
    return build_tiny_model("llama", tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="module")
def tokenizer(llama_dir):
    """The tiny model's tokenizer, with pad := eos as the model loader sets it."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(llama_dir))
    tok.pad_token = tok.eos_token
    return tok


@pytest.fixture
def lora_model(llama_dir):
    """A factory: a fresh tiny Llama with a LoRA adapter (same seed -> same weights)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    def make(seed: int = 0, r: int = 8, **lora):
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(str(llama_dir))
        config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0,
                            target_modules=["q_proj", "v_proj"], **lora)
        return get_peft_model(base, config)

    return make


@pytest.fixture
def task(tokenizer):
    """A factory for the tiny task as TrainingData (train on all words, validate/test on some)."""
    from llm_magic.runtime.training.data import training_data_from_pairs

    def make(train=WORDS, validation=WORDS[:4], test=WORDS[4:8]):
        splits = {"train": pairs(train)}
        if validation:
            splits["validation"] = pairs(validation)
        if test:
            splits["test"] = pairs(test)
        return training_data_from_pairs(tokenizer, splits)

    return make
