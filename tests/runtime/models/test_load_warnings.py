"""Loading a model with an adapter prints no library deprecation noise into the notebook."""
from __future__ import annotations

import warnings

from llm_magic.runtime.models.loader import free_model, load_model
from tests.runtime.models.model_helpers import make_config


def _checkpointing_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "is_gradient_checkpointing" in str(w.message)]


def test_lora_on_the_embedded_model_loads_without_the_checkpointing_deprecation(tmp_path):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = load_model(make_config("llm-magic/tiny", adapter={"type": "lora", "r": 4}))
    try:
        assert loaded.adapter_type == "lora"
        assert _checkpointing_warnings(record) == []
        loaded.model.save_pretrained(tmp_path / "adapter")
    finally:
        free_model(loaded)
    # The other way PEFT wraps a model: pretrained adapter weights, loaded for inference.
    config = make_config("llm-magic/tiny", trainer={"type": "none"},
                         adapter={"type": "lora", "pretrained_adapter_weights": str(tmp_path / "adapter")})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = load_model(config)
    try:
        assert loaded.adapter_type == "lora"
        assert _checkpointing_warnings(record) == []
    finally:
        free_model(loaded)
