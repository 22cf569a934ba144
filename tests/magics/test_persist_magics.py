"""%llm_save, %llm_load, %llm_merge, %llm_export and %llm_upload through a real InteractiveShell."""
from __future__ import annotations

import json

import pytest
import torch
from IPython.core.error import UsageError

SECRET = "hf_magic" + "Q" * 30


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("persist-magic-llama"))


def config(model_dir, extra=""):
    return (
        f"model_type: llm\nbase_model: {model_dir}\n"
        "input_features: [{name: word, type: text}]\n"
        "output_features: [{name: answer, type: text}]\n"
        'prompt: {template: "Say {word}:"}\n'
        f"adapter: {{type: lora, r: 4, target_modules: [q_proj, v_proj]{extra}}}\n"
        "trainer: {type: finetune, epochs: 1}\n"
        "generation: {max_new_tokens: 5, do_sample: false}\n"
    )


def _perturb_adapter(session):
    """Stand in for training: give the LoRA B weights values (PEFT starts them at zero)."""
    model = session.load_model().model
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return model


def _logits(model, ids=((1, 40, 41, 42, 43),)):
    model.eval()  # a model loaded for fine-tuning is in train mode: LoRA dropout would be on
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids)).logits


@pytest.fixture
def tuned(ip, tiny_dir, monkeypatch, tmp_path):
    from llm_magic.runtime.session import get_session

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.cell("llm_config", "", config(tiny_dir))
    _perturb_adapter(get_session())
    return ip


def test_save_and_load_magics_round_trip(tuned, tmp_path):
    from llm_magic.runtime.session import get_session, reset_session

    before = get_session().generate("dog").text
    report = tuned.line("llm_save", "runs/my-run")
    assert "Saved adapter weights" in repr(report) and (tmp_path / "runs/my-run/adapter_model.safetensors").is_file()

    reset_session()
    loaded = tuned.line("llm_load", "runs/my-run")
    assert "Loaded lora adapter" in repr(loaded)
    assert get_session().generate("dog").text == before


def test_bad_arguments_and_folders_are_usage_errors(tuned, tmp_path):
    from llm_magic.runtime.session import get_session

    config_before = get_session().config
    with pytest.raises(UsageError, match="needs a folder"):
        tuned.line("llm_save", "")
    with pytest.raises(UsageError, match="no such folder"):
        tuned.line("llm_load", "nowhere")
    with pytest.raises(UsageError, match="takes no arguments"):
        tuned.line("llm_merge", "now")
    assert get_session().config is config_before


def test_merge_then_export_writes_a_plain_hf_model(tuned, tmp_path):
    from transformers import AutoModelForCausalLM

    from llm_magic.runtime.session import get_session

    session = get_session()
    adapter_logits = _logits(session.load_model().model)
    merged = tuned.line("llm_merge")
    assert "session keeps its adapter model" in repr(merged) and not merged.dequantized
    exported = tuned.line("llm_export", "exported")
    assert "standalone Hugging Face model" in repr(exported)
    gen = json.loads((tmp_path / "exported/generation_config.json").read_text())
    assert gen["max_new_tokens"] == 5 and gen["do_sample"] is False
    reloaded = AutoModelForCausalLM.from_pretrained(str(tmp_path / "exported"))
    torch.testing.assert_close(_logits(reloaded), adapter_logits, rtol=1e-4, atol=1e-4)
    # The export reused the merge (same adapter): no second merged copy was built.
    assert session.persistence.merged is merged


def test_merge_without_an_adapter_is_a_usage_error(ip, tiny_dir):
    ip.cell("llm_config", "", config(tiny_dir).replace(
        "adapter: {type: lora, r: 4, target_modules: [q_proj, v_proj]}\n", ""))
    with pytest.raises(UsageError, match="Nothing to merge"):
        ip.line("llm_merge")


def test_merge_postprocessor_saves_merged_weights_too(ip, tiny_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from llm_magic.runtime.session import get_session

    ip.cell("llm_config", "", config(
        tiny_dir, ", postprocessor: {merge_adapter_into_base_model: true}"))
    model = _perturb_adapter(get_session())
    report = ip.line("llm_save", str(tmp_path / "run"))
    assert report.merged and "merged weights" in repr(report)
    for name in ("adapter_model.safetensors", "merged/model.safetensors", "merged/config.json",
                 "merged/tokenizer.json", "merged/generation_config.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert not (tmp_path / "run" / "model.safetensors").exists()
    full = AutoModelForCausalLM.from_pretrained(str(tmp_path / "run" / "merged"))
    torch.testing.assert_close(_logits(full), _logits(model), rtol=1e-4, atol=1e-4)


def test_upload_magic_uses_the_env_token_and_never_shows_it(tuned, tmp_path, monkeypatch, capsys):
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw)))

    def upload_folder(self, **kw):
        calls.append(("upload", kw["repo_id"], kw))

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(UsageError, match="Nothing to upload yet"):
        tuned.line("llm_upload", "me/tiny")
    tuned.line("llm_save", "run")
    with pytest.raises(UsageError, match="No Hugging Face token"):
        tuned.line("llm_upload", "me/tiny")

    monkeypatch.setenv("HF_TOKEN", SECRET)
    result = tuned.line("llm_upload", "me/tiny --private --commit-message 'from a notebook'")
    (_, cid, ckw), (_, uid, ukw) = calls
    assert cid == uid == "me/tiny" and ckw["private"] is True and ckw["token"] == SECRET
    assert ukw["folder_path"] == str(tmp_path / "run") and ukw["commit_message"] == "from a notebook"
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err + repr(result)
