"""4-bit compute dtype on the CPU: float32 unless the config sets it, with a load note saying so."""
from __future__ import annotations

import pytest

from llm_magic.runtime.models.loader import free_model, load_model
from llm_magic.runtime.models.manager import plan_reload
from tests.runtime.models.model_helpers import make_config

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU rule; CUDA keeps float16")


def _compute_dtypes(loaded) -> set:
    import bitsandbytes as bnb

    layers = [m for m in loaded.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers, "nothing was quantized"
    return {layer.compute_dtype for layer in layers}


def _load(tiny_dirs, **quantization):
    return load_model(make_config(tiny_dirs["llama"], adapter={"type": "lora", "r": 4},
                                  quantization={"bits": 4, **quantization}))


def test_cpu_default_computes_in_float32_and_says_so(tiny_dirs):
    loaded = _load(tiny_dirs)
    try:
        assert _compute_dtypes(loaded) == {torch.float32}
        notes = [n for n in loaded.notes if "compute dtype float32" in n]
        assert len(notes) == 1 and "bnb_4bit_compute_dtype" in notes[0]
        from llm_magic.runtime.models.info import model_info

        assert notes[0] in repr(model_info(loaded))
    finally:
        free_model(loaded)


def test_explicit_float16_is_honoured(tiny_dirs):
    loaded = _load(tiny_dirs, bnb_4bit_compute_dtype="float16")
    try:
        assert _compute_dtypes(loaded) == {torch.float16}
        assert not [n for n in loaded.notes if "compute dtype" in n]
    finally:
        free_model(loaded)


def test_setting_the_default_explicitly_reloads_the_model(tiny_dirs):
    """Implicit and explicit float16 load differently on the CPU, so the change needs a reload."""
    implicit = make_config(tiny_dirs["llama"], adapter={"type": "lora"}, quantization={"bits": 4})
    explicit = make_config(tiny_dirs["llama"], adapter={"type": "lora"},
                           quantization={"bits": 4, "bnb_4bit_compute_dtype": "float16"})
    assert plan_reload(implicit, explicit).action == "reload"
    assert plan_reload(explicit, explicit).action == "none"
