"""Case 1 of the trust issue: a failing or interrupted %%llm_config never costs the trained adapter.

Each test trains a tiny adapter through the real magics, then runs a %%llm_config that fails in
one of the ways users hit, and checks that the session still holds the same config, the same
model object and the same adapter bytes, and that %llm_save still writes the trained weights.
"""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from IPython.core.error import UsageError

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("transactions-llama"))


def config(base, adapter="{type: lora, r: 4, target_modules: [q_proj, v_proj]}"):
    return (
        f"model_type: llm\nbase_model: {base}\n"
        "input_features: [{name: word, type: text}]\n"
        "output_features: [{name: answer, type: text}]\n"
        'prompt: {template: "Say {word}:"}\n'
        f"adapter: {adapter}\n"
        "trainer: {type: finetune, train_steps: 3, batch_size: 4, learning_rate: 0.05}\n"
        "preprocessing: {split: {type: random, probabilities: [1.0, 0.0, 0.0]}}\n"
    )


def adapter_bytes(session):
    """The adapter's tensors as bytes (what 'the same weights' means)."""
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(session.models.loaded.model)
    return {name: tensor.detach().cpu().numpy().tobytes() for name, tensor in state.items()}


@pytest.fixture
def trained(ip, tiny_dir, tmp_path, monkeypatch):
    """A session whose adapter was trained by %llm_train (its LoRA B weights are no longer zero)."""
    from llm_magic.runtime.session import get_session

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.user_ns["df"] = pd.DataFrame({"word": WORDS, "answer": [" " + w for w in WORDS]})
    ip.cell("llm_config", "", config(tiny_dir))
    ip.line("llm_train", "--data df")
    session = get_session()
    weights = adapter_bytes(session)
    fresh = torch.zeros(1)
    assert any(not torch.equal(torch.frombuffer(bytearray(v), dtype=torch.float32), fresh.expand(len(v) // 4))
               for k, v in weights.items() if "lora_B" in k), "training did not change the adapter"
    return ip, session, weights


def assert_unchanged(session, before_config, before_base, weights):
    assert session.config is before_config
    assert session.models.loaded is not None
    assert session.models.loaded.base is before_base  # the base was not reloaded
    assert adapter_bytes(session) == weights


def test_an_offline_hub_id_keeps_the_trained_adapter(trained, tiny_dir):
    ip, session, weights = trained
    cfg, model = session.config, session.models.loaded.model
    with pytest.raises(UsageError) as err:
        ip.cell("llm_config", "", config("nobody-has/this-model-offline"))
    assert "nobody-has/this-model-offline" in str(err.value)
    assert session.models.loaded.base_model_id == str(tiny_dir)
    assert session.config is cfg and adapter_bytes(session) == weights
    del model


def test_an_impossible_rank_keeps_the_trained_adapter(trained):
    ip, session, weights = trained
    cfg, model = session.config, session.models.loaded.base
    with pytest.raises(UsageError) as err:
        ip.cell("llm_config", "", config(session.config.base_model,
                                         "{type: lora, r: 1000000000000, target_modules: [q_proj, v_proj]}"))
    message = str(err.value)
    print(message)
    assert "r" in message and len(message.splitlines()) < 15, message
    assert_unchanged(session, cfg, model, weights)


def test_a_corrupt_base_folder_keeps_the_trained_adapter(trained, tmp_path):
    from tests.tiny_models import build_tiny_model

    ip, session, weights = trained
    cfg = session.config
    broken = build_tiny_model("llama", tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(UsageError) as err:
        ip.cell("llm_config", "", config(broken))
    assert "model.safetensors" in str(err.value) or str(broken) in str(err.value)
    assert session.config is cfg
    # The base was freed to make room and loaded again: same config, same adapter bytes.
    assert adapter_bytes(session) == weights
    saved = ip.line("llm_save", "after-failure")
    from safetensors.torch import load_file

    on_disk = load_file(str(saved.path / "adapter_model.safetensors"))
    assert any(torch.count_nonzero(t) for k, t in on_disk.items() if "lora_B" in k)


def test_ctrl_c_during_config_load_keeps_the_trained_adapter(trained, tiny_dir, monkeypatch):
    from llm_magic.runtime.models import loader

    ip, session, weights = trained
    cfg, model = session.config, session.models.loaded.model
    real = loader.load_model
    calls = []

    def interrupted(config):
        calls.append(config)
        if len(calls) == 1:  # the new model; loading the old one back is not interrupted
            raise KeyboardInterrupt
        return real(config)

    monkeypatch.setattr(loader, "load_model", interrupted)
    with pytest.raises(UsageError, match="interrupted"):
        ip.cell("llm_config", "--load", config(tiny_dir) + "quantization: {bits: 8}\n")
    assert session.config is cfg and adapter_bytes(session) == weights
    # A rewrap (new adapter kind) interrupted half-way: the old adapter is put back.
    from llm_magic.runtime.models import adapters

    real_attach = adapters.attach_adapter

    attached = []

    def attach_interrupted(*args, **kwargs):
        attached.append(1)
        if len(attached) == 1:  # the new adapter; putting the old one back is not interrupted
            raise KeyboardInterrupt
        return real_attach(*args, **kwargs)

    monkeypatch.setattr(adapters, "attach_adapter", attach_interrupted)
    with pytest.raises(UsageError, match="interrupted"):
        ip.cell("llm_config", "--load", config(tiny_dir, "{type: lora, r: 8, target_modules: [q_proj]}"))
    monkeypatch.setattr(adapters, "attach_adapter", real_attach)
    assert session.config is cfg and adapter_bytes(session) == weights
    del model


def test_a_valid_rank_change_keeps_the_trained_weights_and_says_where(trained, tiny_dir, capsys):
    ip, session, weights = trained
    capsys.readouterr()
    ip.cell("llm_config", "", config(tiny_dir, "{type: lora, r: 8, target_modules: [q_proj, v_proj]}"))
    out = capsys.readouterr().out
    assert "%llm_load" in out and "kept in" in out, out
    folder = out.split("kept in ", 1)[1].split(":", 1)[0]
    assert session.config.adapter.r == 8 and adapter_bytes(session) != weights
    ip.line("llm_load", folder)
    assert session.config.adapter.r == 4 and adapter_bytes(session) == weights


def test_a_config_refused_by_cheap_checks_writes_no_copy(trained, tmp_path):
    ip, session, weights = trained
    cfg = session.config
    with pytest.raises(UsageError, match="not an existing folder"):
        ip.cell("llm_config", "", config(tmp_path / "no-such-model"))
    assert session.config is cfg and adapter_bytes(session) == weights
    assert not list(tmp_path.glob("llm_magic_runs/*/kept-*"))


def _files(root):
    """Every file and folder under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))} if root.exists() else {}


def test_a_config_that_fails_to_load_leaves_the_files_as_they_were(trained, tmp_path, tiny_dir):
    """The kept-N copy is written before the new model loads: a failure removes it again."""
    from tests.tiny_models import build_tiny_model

    ip, session, weights = trained
    runs = tmp_path / "llm_magic_runs"
    before, kept_in = _files(runs), session.models.loaded.kept_in
    broken = build_tiny_model("llama", tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(UsageError):
        ip.cell("llm_config", "", config(broken))  # a reload: the new base fails to load
    assert _files(runs) == before and not list(runs.glob("*/kept-*"))
    assert session.models.loaded.kept_in == kept_in and adapter_bytes(session) == weights
    # A rewrap (new rank) that fails half-way: the same.
    from llm_magic.runtime.models import adapters

    real_attach = adapters.attach_adapter

    attached = []

    def attach_fails(*args, **kwargs):
        attached.append(1)
        if len(attached) == 1:  # the new adapter; putting the old one back is not interrupted
            raise KeyboardInterrupt
        return real_attach(*args, **kwargs)

    adapters.attach_adapter = attach_fails
    try:
        with pytest.raises(UsageError, match="interrupted"):
            ip.cell("llm_config", "", config(tiny_dir, "{type: lora, r: 8, target_modules: [q_proj, v_proj]}"))
    finally:
        adapters.attach_adapter = real_attach
    assert _files(runs) == before and session.models.loaded.kept_in == kept_in
    assert adapter_bytes(session) == weights
    # The weights are still at stake, so a change that works saves them (not a folder now gone).
    ip.cell("llm_config", "", config(tiny_dir, "{type: lora, r: 8, target_modules: [q_proj, v_proj]}"))
    kept = list(runs.glob("*/kept-*"))
    assert len(kept) == 1 and (kept[0] / "adapter_model.safetensors").exists()
