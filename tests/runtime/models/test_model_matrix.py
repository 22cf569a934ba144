"""Every tiny architecture loads plain, with LoRA, 4-bit + LoRA, 8-bit + LoRA and other adapters,
runs a forward pass and trains one step in which only the adapter's weights change.

Loaded bases are shared per architecture (one ModelManager each): switching adapters re-wraps the
same base, switching quantization reloads it, as in a notebook session.
"""
from __future__ import annotations

import pytest

from llm_magic.runtime.models.manager import ModelManager
from tests.runtime.models.model_helpers import changed_keys, make_config, snapshot, train_one_step
from tests.tiny_models import ARCHITECTURES

ARCHS = list(ARCHITECTURES)

# Name fragments of the parameters each adapter type adds (PEFT's naming).
ADAPTER_PARAM_MARKERS = {
    "lora": ("lora_A", "lora_B"),
    "adalora": ("lora_A", "lora_B", "lora_E"),
    "ia3": ("ia3_l",),
    "loha": ("hada_",),
    "lokr": ("lokr_",),
    "vera": ("vera_lambda",),
    "prompt_tuning": ("prompt_encoder",),
    "ln_tuning": ("ln_tuning_layers",),
    "oft": ("oft_",),
    "fourierft": ("fourierft_spectrum",),
}

# Other adapter types, spread over the architectures (each pairing runs one test).
OTHER_ADAPTERS = [
    ("gpt2", {"type": "ia3"}),
    ("llama", {"type": "ia3"}),
    ("phi", {"type": "loha"}),
    ("qwen2", {"type": "loha"}),
    ("gpt_neox", {"type": "vera", "r": 16}),
    ("gemma", {"type": "vera", "r": 16}),
    ("mistral", {"type": "prompt_tuning", "num_virtual_tokens": 4}),
    ("gpt2", {"type": "prompt_tuning", "num_virtual_tokens": 4}),
    ("llama", {"type": "lokr"}),
    ("gpt2", {"type": "adalora", "total_step": 10}),
    ("qwen2", {"type": "ln_tuning"}),
    ("gemma", {"type": "oft", "oft_block_size": 4}),
    ("phi", {"type": "fourierft", "n_frequency": 16}),
]


@pytest.fixture(scope="module")
def managers():
    """One ModelManager per architecture, shared by this module's tests."""
    cache: dict[str, ModelManager] = {}
    yield cache
    for manager in cache.values():
        manager.unload()


def _load(managers, tiny_dirs, arch, **sections):
    manager = managers.setdefault(arch, ModelManager())
    return manager.ensure(make_config(tiny_dirs[arch], **sections))


def _assert_only_adapter_trains(loaded, adapter_type):
    from peft import PeftModel

    assert isinstance(loaded.model, PeftModel)
    assert loaded.adapter_type == adapter_type
    trainable = {n for n, p in loaded.model.named_parameters() if p.requires_grad}
    markers = ADAPTER_PARAM_MARKERS[adapter_type]
    assert trainable
    assert all(any(m in name for m in markers) for name in trainable), sorted(trainable)[:5]

    before = snapshot(loaded.model)
    train_one_step(loaded)
    changed = changed_keys(before, snapshot(loaded.model))
    assert changed, "the training step changed nothing"
    assert changed <= trainable, f"non-adapter weights changed: {sorted(changed - trainable)[:5]}"


@pytest.mark.parametrize("arch", ARCHS)
def test_full_finetune_trains_base_weights(managers, tiny_dirs, arch):
    from peft import PeftModel

    loaded = _load(managers, tiny_dirs, arch)
    assert not isinstance(loaded.model, PeftModel)
    assert loaded.adapter_type is None
    assert all(p.requires_grad for p in loaded.model.parameters())
    assert loaded.tokenizer.pad_token is not None
    before = snapshot(loaded.model)
    train_one_step(loaded)
    changed = changed_keys(before, snapshot(loaded.model))
    assert any("embed" in n or "wte" in n for n in changed)
    assert len(changed) > len(before) // 2


@pytest.mark.parametrize("arch", ARCHS)
def test_lora_trains_only_adapter_weights(managers, tiny_dirs, arch):
    loaded = _load(managers, tiny_dirs, arch, adapter={"type": "lora", "r": 4})
    assert loaded.target_modules, "no target modules found"
    _assert_only_adapter_trains(loaded, "lora")


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("arch", ARCHS)
def test_quantized_lora_trains_only_adapter_weights(managers, tiny_dirs, arch, bits):
    import bitsandbytes as bnb

    loaded = _load(
        managers, tiny_dirs, arch,
        adapter={"type": "lora", "r": 4},
        quantization={"bits": bits, "bnb_4bit_compute_dtype": "float32"},
    )
    layer = bnb.nn.Linear4bit if bits == 4 else bnb.nn.Linear8bitLt
    assert any(isinstance(m, layer) for m in loaded.model.modules())
    assert loaded.quantization.startswith(f"{bits}-bit")
    _assert_only_adapter_trains(loaded, "lora")


@pytest.mark.parametrize(
    "arch,adapter", OTHER_ADAPTERS, ids=[f"{a}-{c['type']}" for a, c in OTHER_ADAPTERS]
)
def test_other_adapter_types_train_only_adapter_weights(managers, tiny_dirs, arch, adapter):
    loaded = _load(managers, tiny_dirs, arch, adapter=adapter)
    _assert_only_adapter_trains(loaded, adapter["type"])


def test_target_modules_cover_attention_and_mlp(managers, tiny_dirs):
    """Discovery finds every projection, including the names PEFT's table gets wrong (Phi)."""
    found = {}
    for arch in ("llama", "phi", "gpt2", "gpt_neox"):
        found[arch] = _load(managers, tiny_dirs, arch, adapter={"type": "lora"}).target_modules
    assert found["llama"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert found["phi"] == ["dense", "fc1", "fc2", "k_proj", "q_proj", "v_proj"]
    assert found["gpt2"] == ["c_attn", "c_fc", "c_proj"]
    assert found["gpt_neox"] == ["dense", "dense_4h_to_h", "dense_h_to_4h", "query_key_value"]
    assert all("lm_head" not in names for names in found.values())


def test_configured_target_modules_are_respected(managers, tiny_dirs):
    loaded = _load(
        managers, tiny_dirs, "llama", adapter={"type": "lora", "target_modules": ["q_proj"]}
    )
    assert loaded.target_modules == ["q_proj"]
    wrapped = {
        name.split(".lora_A")[0].rsplit(".", 1)[-1]
        for name, _ in loaded.model.named_parameters()
        if "lora_A" in name
    }
    assert wrapped == {"q_proj"}


def test_four_bit_compute_dtype_float16_runs_on_this_device(managers, tiny_dirs):
    """Ludwig's default compute dtype (float16), set explicitly (the CPU would otherwise pick
    float32), also works where we run (CPU or CUDA)."""
    loaded = _load(managers, tiny_dirs, "llama", adapter={"type": "lora"},
                   quantization={"bits": 4, "bnb_4bit_compute_dtype": "float16"})
    _assert_only_adapter_trains(loaded, "lora")
