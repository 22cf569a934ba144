"""``model_parameters`` take effect: RoPE scaling reaches the model, NEFTune adds training noise."""
from __future__ import annotations

import pytest
import torch

from llm_magic.runtime.models.loader import free_model, load_model
from tests.runtime.models.model_helpers import make_config

# Longer than the tiny models' 256 positions, so dynamic scaling kicks in too.
LONG = 300


@pytest.fixture(scope="module")
def plain_llama(tiny_dirs):
    loaded = load_model(make_config(tiny_dirs["llama"]))
    yield loaded
    free_model(loaded)


def _rope(hf_config) -> dict:
    return getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None)


@pytest.mark.parametrize("rope_type", ["linear", "dynamic"])
def test_rope_scaling_reaches_the_model_and_changes_long_inputs(tiny_dirs, plain_llama, rope_type):
    loaded = load_model(
        make_config(
            tiny_dirs["llama"],
            model_parameters={"rope_scaling": {"rope_type": rope_type, "factor": 4.0}},
        )
    )
    try:
        rope = _rope(loaded.model.config)
        assert rope["rope_type"] == rope_type and rope["factor"] == 4.0
        assert rope.get("rope_theta") == _rope(plain_llama.model.config).get("rope_theta")
        assert loaded.context_length == 4 * plain_llama.context_length
        assert any("RoPE scaling" in note for note in loaded.notes)
        ids = torch.randint(3, 300, (1, LONG), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            scaled = loaded.model(input_ids=ids).logits
            plain = plain_llama.model(input_ids=ids).logits
        assert not torch.allclose(scaled[0, -1], plain[0, -1], atol=1e-5)
    finally:
        free_model(loaded)


def test_old_rope_key_type_is_accepted(tiny_dirs):
    loaded = load_model(
        make_config(
            tiny_dirs["qwen2"], model_parameters={"rope_scaling": {"type": "linear", "factor": 2.0}}
        )
    )
    try:
        assert _rope(loaded.model.config)["rope_type"] == "linear"
    finally:
        free_model(loaded)


def test_neftune_noises_embeddings_in_training_mode_only(tiny_dirs):
    loaded = load_model(make_config(tiny_dirs["llama"], model_parameters={"neftune_noise_alpha": 5}))
    try:
        embeddings = loaded.model.get_input_embeddings()
        ids = torch.tensor([[1, 5, 6, 7, 8, 9]])
        clean = torch.nn.functional.embedding(ids, embeddings.weight)
        embeddings.eval()
        assert torch.equal(embeddings(ids), clean)
        embeddings.train()
        noisy = embeddings(ids)
        assert not torch.equal(noisy, clean)
        # NEFTune's bound: uniform noise within alpha / sqrt(seq_len * hidden).
        bound = 5 / (ids.shape[1] * clean.shape[-1]) ** 0.5
        assert (noisy - clean).abs().max() <= bound + 1e-6
        embeddings.eval()
    finally:
        free_model(loaded)


def test_neftune_off_by_default(plain_llama):
    embeddings = plain_llama.model.get_input_embeddings()
    ids = torch.tensor([[1, 5, 6]])
    embeddings.train()
    try:
        assert torch.equal(embeddings(ids), torch.nn.functional.embedding(ids, embeddings.weight))
    finally:
        embeddings.eval()


def test_device_and_dtype_are_chosen_and_shown(plain_llama):
    if torch.cuda.is_available():
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        assert plain_llama.device.type == "cuda"
    else:
        expected = torch.float32
        assert plain_llama.device.type == "cpu"
    assert plain_llama.dtype == expected
    assert next(plain_llama.model.parameters()).dtype == expected
    assert any(str(expected).replace("torch.", "") in note for note in plain_llama.notes)


def test_context_length_follows_the_spec_order():
    from types import SimpleNamespace

    from llm_magic.runtime.models.parameters import context_length

    assert context_length(SimpleNamespace(max_sequence_length=100, max_position_embeddings=50)) == 100
    assert context_length(SimpleNamespace(max_position_embeddings=50, n_positions=10)) == 50
    assert context_length(SimpleNamespace(n_positions=10)) == 10
    assert context_length(SimpleNamespace()) == 2048
