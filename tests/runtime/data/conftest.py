"""Fixtures for the data tests: configs from dicts, a tiny tokenizer, an isolated index cache."""
from __future__ import annotations

import copy
from typing import Any

import pytest

BASE_CONFIG: dict[str, Any] = {
    "model_type": "llm",
    "base_model": "llm-magic/tiny",
    "input_features": [{"name": "instruction", "type": "text"}],
    "output_features": [{"name": "output", "type": "text"}],
}


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config_from(**sections: Any):
    """A validated config: :data:`BASE_CONFIG` with ``sections`` merged in (``prompt={...}`` etc.)."""
    from llm_magic.runtime.config import load_config

    return load_config(_merge(BASE_CONFIG, sections))


@pytest.fixture
def make_config():
    """``make_config(prompt={"template": ...}, preprocessing={...})`` -> LLMConfig."""
    return config_from


@pytest.fixture(scope="session")
def tokenizer():
    """The tests' tiny byte-level BPE tokenizer, with a real pad token distinct from EOS and from 0."""
    from tests.tiny_models import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    tok.add_special_tokens({"pad_token": "<pad>"})
    assert tok.pad_token_id not in (0, tok.eos_token_id)
    return tok


@pytest.fixture(autouse=True)
def index_cache(tmp_path, monkeypatch):
    """Every test gets its own retrieval index cache folder (``$LLM_MAGIC_CACHE``)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("LLM_MAGIC_CACHE", str(root))
    return root / "index"
