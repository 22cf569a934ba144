"""Issue 14: values the base model's shape rules out are refused at %%llm_config, with the line.

The shape comes from the model's config.json built on the meta device (no weights); when it is
not known offline, the load gives the same message before building the adapter.
"""
from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from llm_magic.errors import ConfigError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    # hidden 64, 4 heads of 16, 2 KV heads: k_proj / v_proj are 64 -> 32, the smallest layers.
    return str(build_tiny_model("llama", tmp_path_factory.mktemp("shape_llama")))


def _config(model_dir, adapter):
    return (f"base_model: {model_dir}\n"
            "input_features: [{name: q, type: text}]\n"
            "output_features: [{name: a, type: text}]\n"
            f"adapter:\n{adapter}"
            "trainer: {type: finetune}\n")


def test_a_huge_rank_is_refused_at_llm_config_with_line_and_fix(ip, session, model_dir):
    ip.cell("llm_config", "", _config(model_dir, "  type: lora\n  r: 4\n"))
    before, model = session.config, session.load_model().model
    weights = {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k}
    with pytest.raises(UsageError) as info:
        ip.cell("llm_config", "", _config(model_dir, "  type: lora\n  r: 1000000000000\n"))
    message = str(info.value)
    assert "line 7: adapter.r: r is 1000000000000" in message  # cell lines: the magic line is 1
    assert "k_proj is 64 -> 32" in message and "Use r: 32 or less" in message
    assert "Traceback" not in message and len(message.splitlines()) == 2
    assert session.config is before  # the session is as it was: config, model, adapter weights
    assert session.models.loaded.model is model and weights
    assert all((model.state_dict()[k] == v).all() for k, v in weights.items())


@pytest.mark.parametrize("adapter, path, bound", [
    ("  type: lora\n  r: 33\n", "adapter.r", 32),  # one above the smallest layer
    ("  type: lora\n  r: 48\n  target_modules: [q_proj]\n", "adapter.r", 64),  # only q_proj (64 -> 64) ...
    ("  type: adalora\n  init_r: 40\n", "adapter.init_r", 32),
    ("  type: loha\n  r: 100\n", "adapter.r", 32),
])
def test_rank_bound_follows_the_adapted_layers(session, model_dir, adapter, path, bound):
    if bound == 64:  # ... so 48 fits, and 65 does not
        session.set_config(_config(model_dir, adapter))
        adapter = adapter.replace("r: 48", "r: 65")
    with pytest.raises(ConfigError) as info:
        session.set_config(_config(model_dir, adapter))
    [item] = info.value.errors
    assert item.path == path and item.line is not None
    assert f": {bound} or less" in item.message


def test_rank_pattern_ranks_are_checked_per_layer(session, model_dir):
    # k_proj / v_proj (64 -> 32) get their own rank, so r: 64 covers only 64-wide layers: fine.
    session.set_config(_config(model_dir, "  type: lora\n  r: 64\n  rank_pattern: {k_proj: 16, v_proj: 32}\n"))
    with pytest.raises(ConfigError) as info:
        session.set_config(_config(model_dir, "  type: lora\n  r: 8\n  rank_pattern: {k_proj: 40}\n"))
    [item] = info.value.errors
    assert item.path == "adapter.rank_pattern.k_proj" and item.line == 7
    assert "rank_pattern 'k_proj' is 40" in item.message and "Use k_proj: 32 or less" in item.message


def test_ranks_that_fit_and_kinds_without_a_bound_still_load(session, model_dir):
    session.set_config(_config(model_dir, "  type: lora\n  r: 32\n"))
    session.set_config(_config(model_dir, "  type: vera\n  r: 256\n"))  # VeRA's shared basis may be wide
    assert session.config.adapter.type == "vera"


def test_a_default_rank_that_does_not_fit_points_at_the_adapter_block(session, tmp_path):
    from tests.tiny_models import build_tiny_model

    narrow = build_tiny_model("llama", tmp_path / "narrow", hidden_size=16, intermediate_size=32,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=4)  # k_proj: 16 -> 4
    with pytest.raises(ConfigError) as info:
        session.set_config(_config(narrow, "  type: lora\n"))
    [item] = info.value.errors
    assert item.path == "adapter.r" and item.line == 4 and "r is 8" in item.message


def test_unknown_shape_offline_is_checked_at_load_with_the_same_message(session, model_dir, monkeypatch):
    import llm_magic.runtime.models.shape as shape

    monkeypatch.setattr(shape, "model_shape", lambda base_model: None)  # e.g. a hub model not cached
    session.set_config(_config(model_dir, "  type: lora\n  r: 1000000000000\n"))  # not known yet
    with pytest.raises(ConfigError) as info:
        session.load_model()
    [item] = info.value.errors
    assert item.path == "adapter.r" and item.line == 6 and "Use r: 32 or less" in item.message
    assert session.models.loaded is None  # nothing half-loaded stays behind


def test_a_hub_model_not_in_the_cache_is_left_to_the_load(session):
    session.set_config("base_model: some-org/not-downloaded\ninput_features: [{name: q, type: text}]\n"
                       "output_features: [{name: a, type: text}]\nadapter: {type: lora, r: 100000}\n"
                       "trainer: {type: finetune}\n")
    assert session.config.adapter.r == 100000


def test_target_modules_the_model_lacks_are_refused_at_llm_config(session, model_dir):
    with pytest.raises(ConfigError) as info:
        session.set_config(_config(model_dir, "  type: ia3\n  target_modules: [c_attn]\n"))
    [item] = info.value.errors
    assert item.path == "adapter.target_modules" and item.line == 6
    assert "none of ['c_attn'] is a module of this model" in item.message and "q_proj" in item.message
