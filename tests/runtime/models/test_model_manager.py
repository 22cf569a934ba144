"""The session keeps one model and reloads only what a new config changes, freeing memory first."""
from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest
import torch

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.models.manager import ModelManager
from tests.runtime.models.model_helpers import make_config, train_one_step
from tests.tiny_models import build_tiny_model


@pytest.fixture
def manager():
    mgr = ModelManager()
    yield mgr
    mgr.unload()


def _adapter_modules(model, marker: str) -> int:
    return sum(1 for name, _ in model.named_modules() if marker in name)


def test_settings_that_do_not_touch_weights_reload_nothing(manager, tiny_dirs):
    loaded = manager.ensure(make_config(tiny_dirs["llama"], adapter={"type": "lora"}))
    model = loaded.model
    changed = make_config(
        tiny_dirs["llama"],
        adapter={"type": "lora"},
        generation={"temperature": 0.7, "max_new_tokens": 5},
        prompt={"template": "Q: {instruction}\nA:"},
        trainer={"type": "finetune", "learning_rate": 0.01, "epochs": 2},
        preprocessing={"sample_ratio": 0.5},
    )
    plan = manager.sync(changed)
    assert plan.action == "none" and "nothing" in str(plan)
    assert manager.loaded is loaded and loaded.model is model
    assert loaded.config is changed


def test_planning_a_settings_change_does_not_import_torch(tiny_dirs):
    code = (
        "import sys\n"
        "from llm_magic import load_config\n"
        "from llm_magic.runtime.models.manager import plan_reload\n"
        f"base = {{'base_model': {str(tiny_dirs['llama'])!r}, "
        "'input_features': [{'name': 'q', 'type': 'text'}], "
        "'output_features': [{'name': 'a', 'type': 'text'}]}\n"
        "old = load_config(base)\n"
        "new = load_config({**base, 'generation': {'temperature': 0.9}})\n"
        "print(plan_reload(old, new).action, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["none", "False"]


def test_adapter_change_rewraps_the_same_base(manager, tiny_dirs):
    loaded = manager.ensure(make_config(tiny_dirs["llama"], adapter={"type": "lora"}))
    embed = loaded.base.get_input_embeddings().weight
    assert _adapter_modules(loaded.model, "lora_A") > 0

    plan = manager.sync(make_config(tiny_dirs["llama"], adapter={"type": "ia3"}))
    assert plan.action == "rewrap" and plan.changed == ("adapter",)
    assert manager.loaded is loaded and loaded.adapter_type == "ia3"
    assert loaded.base.get_input_embeddings().weight is embed  # not reloaded
    assert _adapter_modules(loaded.model, "lora_A") == 0
    assert _adapter_modules(loaded.model, "ia3_l") > 0
    train_one_step(loaded)

    plan = manager.sync(make_config(tiny_dirs["llama"]))
    assert plan.action == "rewrap"
    assert loaded.adapter_type is None and loaded.target_modules is None
    assert _adapter_modules(loaded.model, "ia3_l") == 0
    assert all(p.requires_grad for p in loaded.model.parameters())
    assert loaded.base.get_input_embeddings().weight is embed


def test_bad_adapter_change_keeps_the_current_adapter(manager, tiny_dirs):
    loaded = manager.ensure(make_config(tiny_dirs["llama"], adapter={"type": "lora"}))
    bad = make_config(tiny_dirs["llama"], adapter={"type": "ia3", "target_modules": ["qkv"]})
    with pytest.raises(LlmMagicError, match="adapter.target_modules.*q_proj"):
        manager.sync(bad)
    assert manager.loaded is loaded and loaded.adapter_type == "lora"
    assert _adapter_modules(loaded.model, "lora_A") > 0


@pytest.mark.parametrize(
    "change",
    [
        {"quantization": {"bits": 8}},
        {"model_parameters": {"neftune_noise_alpha": 5}},
        {"base_model": "other"},
    ],
    ids=["quantization", "model_parameters", "base_model"],
)
def test_weight_changes_free_the_old_model_before_loading(manager, tiny_dirs, monkeypatch, change):
    from llm_magic.runtime.models import loader

    old = manager.ensure(make_config(tiny_dirs["llama"], adapter={"type": "lora"}))
    old_model = weakref.ref(old.base)
    del old
    base = tiny_dirs["qwen2"] if change.get("base_model") == "other" else tiny_dirs["llama"]
    sections = {k: v for k, v in change.items() if k != "base_model"}
    real_load = loader.load_model
    alive_at_load = []

    def watching_load(config):
        gc.collect()
        alive_at_load.append(old_model() is not None)
        return real_load(config)

    monkeypatch.setattr(loader, "load_model", watching_load)
    plan = manager.sync(make_config(base, adapter={"type": "lora"}, **sections))
    assert plan.action == "reload"
    assert plan.changed == (next(iter(change)),)
    assert alive_at_load == [False], "the old model was still alive when the new one loaded"
    assert manager.loaded.base is not None


def test_failed_reload_leaves_the_session_recoverable(session, tiny_dirs, tmp_path):
    good = make_config(tiny_dirs["llama"])
    session.set_config(good)
    session.load_model()

    # Caught before unloading: the current model stays.
    with pytest.raises(LlmMagicError, match="not an existing folder"):
        session.set_config(make_config(tmp_path / "missing"))
    assert session.models.loaded is not None and session.config is good

    # Found only while loading (corrupt weights): the old model is loaded again, config kept.
    broken = build_tiny_model("llama", tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(Exception) as err:
        session.set_config(make_config(broken))
    assert session.config is good
    if isinstance(err.value, LlmMagicError):
        assert "previous model and its adapter weights are kept" in str(err.value)
    assert session.models.loaded is not None
    assert session.load_model().base_model_id == str(tiny_dirs["llama"])


@pytest.mark.slow
def test_memory_stays_flat_over_ten_reloads(tmp_path):
    import psutil

    # Bigger than the tiny models (~16 MB of float32 weights), so a leaked copy shows in RSS.
    sizes = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, head_dim=64)
    first = build_tiny_model("llama", tmp_path / "a", **sizes)
    second = build_tiny_model("llama", tmp_path / "b", seed=1, **sizes)
    manager = ModelManager()
    process = psutil.Process()
    old_models = []
    try:
        for i in range(12):
            loaded = manager.ensure(make_config(first if i % 2 else second))
            old_models.append(weakref.ref(loaded.base))
            del loaded
            if i == 1:  # after warm-up: allocator pools and lazy imports are in place
                gc.collect()
                baseline = process.memory_info().rss
        gc.collect()
        growth = process.memory_info().rss - baseline
    finally:
        manager.unload()
    assert all(ref() is None for ref in old_models[:-1] if ref is not old_models[-1])
    # Ten leaked copies would be ~160 MB; allow allocator noise well below one third of that.
    assert growth < 48 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over ten reloads"


def test_pretrained_adapter_weights_load_trainable_or_frozen(tmp_path, tiny_dirs):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_dirs["llama"]))
    peft_model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    saved = {
        n.replace(".default", ""): p.detach().clone()
        for n, p in peft_model.named_parameters() if "lora_" in n
    }

    for trainer, trainable in (("finetune", True), ("none", False)):
        manager = ModelManager()
        try:
            loaded = manager.ensure(
                make_config(
                    tiny_dirs["llama"],
                    adapter={"type": "lora", "pretrained_adapter_weights": str(tmp_path / "adapter")},
                    trainer={"type": trainer},
                )
            )
            lora = {n: p for n, p in loaded.model.named_parameters() if "lora_" in n}
            assert {n.replace(".default", "") for n in lora} == set(saved)
            for name, param in lora.items():
                assert torch.equal(param.detach().cpu(), saved[name.replace(".default", "")])
                assert param.requires_grad is trainable
        finally:
            manager.unload()


def test_pickle_only_adapter_folder_is_refused(tmp_path, tiny_dirs):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    torch.save({}, folder / "adapter_model.bin")
    with pytest.raises(LlmMagicError, match="adapter_model.bin.*safetensors only"):
        ModelManager().ensure(
            make_config(
                tiny_dirs["llama"], adapter={"type": "lora", "pretrained_adapter_weights": str(folder)}
            )
        )


def test_named_adapters_merge_and_activate(manager, tiny_dirs):
    loaded = manager.ensure(
        make_config(
            tiny_dirs["llama"],
            adapters={
                "adapters": {"a": {"type": "lora", "r": 4}, "b": {"type": "lora", "r": 4}},
                "merge": {"name": "both", "sources": ["a", "b"], "weights": [0.5, 0.5]},
                "active": "both",
            },
        )
    )
    assert set(loaded.model.peft_config) == {"a", "b", "both"}
    assert loaded.model.active_adapter == "both"
    assert loaded.adapter_type == "lora (active: both)"
    trainable = {n for n, p in loaded.model.named_parameters() if p.requires_grad}
    assert trainable and all(".both." in n for n in trainable)


def test_session_facade_loads_syncs_and_reports(session, tiny_dirs):
    assert session.set_config(make_config(tiny_dirs["gpt2"])) is None  # nothing loaded yet
    loaded = session.load_model()
    assert loaded.config is session.config
    plan = session.set_config(make_config(tiny_dirs["gpt2"], adapter={"type": "lora"}))
    assert plan.action == "rewrap"
    info = session.info()
    assert 0 < info.trainable_parameters < info.parameters
    session.unload_model()
    assert session.models.loaded is None


@pytest.mark.parametrize(
    "old,new,action,changed",
    [
        ({}, {"generation": {"top_k": 5}}, "none", ()),
        ({}, {"prompt": {"template": "{instruction}"}}, "none", ()),
        ({"adapter": {"type": "lora"}}, {"adapter": {"type": "lora", "r": 16}}, "rewrap", ("adapter",)),
        (
            {"adapter": {"type": "lora", "pretrained_adapter_weights": "o/a"}},
            {"adapter": {"type": "lora", "pretrained_adapter_weights": "o/a"}, "trainer": {"type": "none"}},
            "rewrap",
            ("trainer.type",),
        ),
        ({}, {"model_parameters": {"rope_scaling": {"rope_type": "linear", "factor": 2.0}}}, "reload",
         ("model_parameters",)),
        (
            {"adapter": {"type": "lora"}},
            {"adapter": {"type": "lora", "r": 4}, "quantization": {"bits": 4}},
            "reload",
            ("quantization",),
        ),
    ],
    ids=["generation", "prompt", "adapter", "trainer-with-pretrained-adapter", "rope", "quantization"],
)
def test_reload_plans(tiny_dirs, old, new, action, changed):
    from llm_magic.runtime.models.manager import plan_reload

    plan = plan_reload(make_config(tiny_dirs["llama"], **old), make_config(tiny_dirs["llama"], **new))
    assert (plan.action, plan.changed) == (action, changed)


def test_adapter_change_on_a_quantized_base_keeps_it_quantized(manager, tiny_dirs):
    import bitsandbytes as bnb

    quantization = {"bits": 4, "bnb_4bit_compute_dtype": "float32"}
    loaded = manager.ensure(
        make_config(tiny_dirs["qwen2"], adapter={"type": "lora", "r": 4}, quantization=quantization)
    )
    plan = manager.sync(
        make_config(tiny_dirs["qwen2"], adapter={"type": "lora", "r": 8}, quantization=quantization)
    )
    assert plan.action == "rewrap"
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in loaded.model.modules())
    ranks = {p.shape[0] for n, p in loaded.model.named_parameters() if "lora_A" in n}
    assert ranks == {8}
    train_one_step(loaded)


def test_pretrained_adapter_of_another_kind_is_refused_before_unwrapping(manager, tmp_path, tiny_dirs):
    from peft import IA3Config, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_dirs["llama"]))
    get_peft_model(base, IA3Config(target_modules=["q_proj"], feedforward_modules=[])).save_pretrained(
        str(tmp_path / "ia3")
    )
    loaded = manager.ensure(make_config(tiny_dirs["llama"], adapter={"type": "lora"}))
    wrong = {"type": "lora", "pretrained_adapter_weights": str(tmp_path / "ia3")}
    with pytest.raises(LlmMagicError, match="holds a ia3 adapter.*adapter.type: ia3"):
        manager.sync(make_config(tiny_dirs["llama"], adapter=wrong))
    assert manager.loaded is loaded and loaded.adapter_type == "lora"
