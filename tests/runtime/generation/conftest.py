"""Tiny random-weight models for the generation tests, built once per test session."""
from __future__ import annotations

import pytest


def load_tiny(path):
    """Load a tiny model folder the way the model manager does: eval mode, pad := eos."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("gen-llama"))


@pytest.fixture(scope="session")
def tiny_lm(tiny_dir):
    """(model, tokenizer) of a tiny random Llama with a pad token."""
    return load_tiny(tiny_dir)
