"""Fixtures for persistence tests: a tiny Llama base folder and LoRA models built on it."""
from __future__ import annotations

import pytest

from tests.tiny_models import build_tiny_model


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory):
    """A tiny random Llama (safetensors + tokenizer) usable as ``base_model``."""
    return build_tiny_model("llama", tmp_path_factory.mktemp("persist-llama"))


@pytest.fixture(scope="session")
def other_llama_dir(tmp_path_factory):
    """A second tiny Llama with other weights (same shapes) under another path."""
    return build_tiny_model("llama", tmp_path_factory.mktemp("persist-llama-other"), seed=1)

