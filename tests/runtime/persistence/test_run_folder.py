"""The run folder from explicit parts: what save writes, what load checks, and how it refuses."""
from __future__ import annotations

import json

import pytest
import yaml

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.persistence import layout
from llm_magic.runtime.persistence.load import apply_adapter_weights, read_run
from llm_magic.runtime.persistence.save import write_run_folder
from tests.runtime.persistence.lora_helpers import lora_config_dict, make_lora

HISTORY = [
    {"step": 1, "epoch": 0.5, "loss": 2.5},
    {"step": 2, "epoch": 1.0, "loss": 1.75, "eval_loss": 1.9},
]
METRICS = {"train": {"loss": 1.75}, "validation": {"loss": 1.9, "perplexity": 6.7}}


@pytest.fixture(scope="module")
def lora(llama_dir):
    return make_lora(llama_dir)


@pytest.fixture(scope="module")
def saved(lora, llama_dir, tmp_path_factory):
    model, tokenizer = lora
    path = tmp_path_factory.mktemp("saved") / "run"
    report = write_run_folder(
        path, config=lora_config_dict(llama_dir), model=model, tokenizer=tokenizer,
        config_name="mine", history=HISTORY, metrics=METRICS, rows=120,
    )
    return path, report


def _logits(model, tokenizer, text="The quick brown fox"):
    import torch

    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits


def test_save_writes_config_weights_tokenizer_history_metrics_and_card(saved, llama_dir):
    path, report = saved
    for name in ("llm_magic.json", "config.yaml", "adapter_config.json", "adapter_model.safetensors",
                 "tokenizer.json", "history.csv", "metrics.json", "README.md"):
        assert (path / name).is_file(), name
    assert report.kind == "adapter" and "adapter_model.safetensors" in report.files
    assert yaml.safe_load((path / "config.yaml").read_text())["adapter"]["r"] == 4
    manifest = layout.read_manifest(path)
    assert manifest.kind == "adapter" and manifest.config_name == "mine"
    assert manifest.files["adapter_model.safetensors"] == (path / "adapter_model.safetensors").stat().st_size
    # The adapter names the config's base_model, not whatever path the model was loaded from.
    adapter_cfg = json.loads((path / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == str(llama_dir)
    assert json.loads((path / "metrics.json").read_text())["validation"]["loss"] == 1.9
    card = (path / "README.md").read_text()
    assert str(llama_dir) in card and "`lora`" in card and "120 rows" in card
    assert "validation.perplexity | 6.7" in card
    # No leftovers of the atomic write beside the folder.
    assert [p.name for p in path.parent.iterdir()] == ["run"]


def test_the_card_is_a_hub_model_card_with_its_metadata(saved, llama_dir):
    from huggingface_hub import ModelCard

    path, _ = saved
    card = ModelCard.load(path / "README.md")
    assert card.data.base_model == str(llama_dir)
    assert card.data.library_name == "peft" and card.data.pipeline_tag == "text-generation"
    assert card.data.tags == ["llm_magic", "text-generation", "lora"]
    assert card.data.metrics == ["perplexity"]  # validation.perplexity; a loss is no Hub metric
    assert "## How to load" in card.text and "AutoPeftModelForCausalLM" in card.text


def test_an_export_card_names_transformers_and_the_preference_trainer(llama_dir):
    from huggingface_hub import ModelCard

    from llm_magic.runtime.persistence.model_card import render_model_card

    config = {**lora_config_dict(llama_dir), "trainer": {"type": "dpo"}}
    text = render_model_card(kind="export", config=config, metrics={"test_exact_match": 0.5, "test_rougeL": 0.7},
                             datasets=["org/pairs"], license="apache-2.0")
    card = ModelCard(text)
    assert card.data.library_name == "transformers" and "dpo" in card.data.tags
    assert card.data.metrics == ["exact_match", "rouge"]
    assert card.data.datasets == ["org/pairs"] and card.data.license == "apache-2.0"
    assert "AutoModelForCausalLM" in card.text and "| test_exact_match | 0.5 |" in card.text


def test_saved_adapter_loads_back_exactly(saved, lora, llama_dir):
    path, _ = saved
    model, tokenizer = lora
    fresh, _ = make_lora(llama_dir, seed=99)  # same shapes, other B weights
    assert not _logits(fresh, tokenizer).allclose(_logits(model, tokenizer))
    run = read_run(path)
    assert run.metrics == METRICS and list(run.history["loss"]) == [2.5, 1.75]
    apply_adapter_weights(fresh, run.path, run.manifest.adapter_names)
    assert _logits(fresh, tokenizer).equal(_logits(model, tokenizer))


def test_truncated_weights_file_is_named(saved, tmp_path):
    import shutil

    path = tmp_path / "copy"
    shutil.copytree(saved[0], path)
    weights = path / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(LlmMagicError, match="adapter_model.safetensors is corrupted or truncated"):
        read_run(path)
    # Even when the manifest is made to agree, the safetensors header check catches it.
    manifest = json.loads((path / "llm_magic.json").read_text())
    manifest["files"]["adapter_model.safetensors"] = weights.stat().st_size
    (path / "llm_magic.json").write_text(json.dumps(manifest))
    with pytest.raises(LlmMagicError, match="corrupted or truncated"):
        read_run(path)


def test_missing_and_foreign_folders_are_clear_errors(tmp_path, llama_dir):
    with pytest.raises(LlmMagicError, match="no such folder"):
        read_run(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(LlmMagicError, match="is a file"):
        read_run(tmp_path / "file.txt")
    with pytest.raises(LlmMagicError, match="plain Hugging Face/PEFT folder"):
        read_run(llama_dir)


def test_adapter_from_another_base_is_refused(saved, tmp_path, other_llama_dir):
    import shutil

    path = tmp_path / "copy"
    shutil.copytree(saved[0], path)
    config = yaml.safe_load((path / "config.yaml").read_text())
    config["base_model"] = str(other_llama_dir)
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(LlmMagicError, match="was trained on base model"):
        read_run(path)


def test_adapter_that_does_not_fit_the_model_is_refused(saved, llama_dir):
    path, _ = saved
    bigger, tokenizer = make_lora(llama_dir, r=8)
    before = _logits(bigger, tokenizer)
    with pytest.raises(LlmMagicError, match=r"differ in shape .*saved \(4, 64\), the model needs \(8, 64\)"):
        apply_adapter_weights(bigger, path, ["default"])
    assert _logits(bigger, tokenizer).equal(before)  # nothing was half-loaded


def test_save_refuses_a_foreign_folder_and_keeps_the_previous_save(saved, lora, llama_dir, tmp_path):
    model, tokenizer = lora
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    with pytest.raises(LlmMagicError, match="holds other files"):
        write_run_folder(foreign, config=lora_config_dict(llama_dir), model=model, tokenizer=tokenizer)
    assert [p.name for p in foreign.iterdir()] == ["todo.txt"]

    # A failing save over an existing one leaves the old folder intact and no temp folder behind.
    target = tmp_path / "run"
    write_run_folder(target, config=lora_config_dict(llama_dir), model=model, tokenizer=tokenizer)
    before = sorted(p.name for p in target.iterdir())
    with pytest.raises(Exception):
        write_run_folder(target, config=lora_config_dict(llama_dir), model=model, tokenizer=None)
    assert sorted(p.name for p in target.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "run"]


def test_a_token_never_ends_up_in_the_folder(lora, llama_dir, tmp_path, monkeypatch):
    model, tokenizer = lora
    secret = "hf_" + "x" * 30
    monkeypatch.setenv("HF_TOKEN", secret)
    config = lora_config_dict(llama_dir)
    write_run_folder(tmp_path / "ok", config=config, model=model, tokenizer=tokenizer)
    assert all(secret not in p.read_text(errors="ignore") for p in (tmp_path / "ok").rglob("*") if p.is_file())
    # If one slipped into what we write (here: a config value), the save refuses and names the file.
    config["input_features"][0]["name"] = secret
    with pytest.raises(LlmMagicError, match="config.yaml contains your Hugging Face token") as err:
        write_run_folder(tmp_path / "leak", config=config, model=model, tokenizer=tokenizer)
    assert secret not in str(err.value)
    assert not (tmp_path / "leak").exists()
