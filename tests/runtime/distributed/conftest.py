"""Fixtures for scale-out tests: a tiny random Llama (built once per module) and a small task."""
from __future__ import annotations

import pandas as pd
import pytest

from tests.tiny_models import build_tiny_model

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model", "tiny", "runs", "fast", "test",
         "red", "blue", "green", "sun"]


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A tiny random-weight Llama folder."""
    return build_tiny_model("llama", tmp_path_factory.mktemp("llama"))


@pytest.fixture
def frame():
    """The say-the-word task: 16 rows, split column 0 (train) for 12 and 2 (test) for 4."""
    return pd.DataFrame({"word": WORDS, "answer": [f" {w}" for w in WORDS],
                         "split": [0] * 12 + [2] * 4})


def scale_config(model_dir, batch_size=2, **extra):
    """A deterministic LoRA fine-tune of the tiny model (no dropout, no shuffling)."""
    cfg = {
        "model_type": "llm", "base_model": str(model_dir),
        "input_features": [{"name": "word", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "prompt": {"template": "Say {word}:"},
        "adapter": {"type": "lora", "r": 4, "dropout": 0.0},
        "trainer": {"type": "finetune", "learning_rate": 0.02, "epochs": 1, "batch_size": batch_size,
                    "should_shuffle": False},
        "preprocessing": {"split": {"type": "fixed", "column": "split"}},
        "generation": {"max_new_tokens": 2, "do_sample": False},
    }
    cfg.update(extra)
    return cfg


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run folders go under a temporary working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
