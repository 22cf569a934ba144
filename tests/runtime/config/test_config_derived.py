"""Derived and rewritten values, Ludwig quirks we chose, conveniences, and the generated reference."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm_magic import ConfigError, load_config
from llm_magic.runtime.config import resolve_preset
from llm_magic.runtime.config.presets import PRESETS

BASE = """\
base_model: llm-magic/tiny
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
"""


def derived_paths(config):
    return {path: value for path, value, _ in config.derived}


def test_all_32_presets_resolve_offline():
    assert len(PRESETS) == 32
    assert resolve_preset("llama-2-7b-chat") == "meta-llama/Llama-2-7b-chat-hf"
    assert resolve_preset("meta-llama/Llama-3.2-1B") is None
    config = load_config(BASE.replace("llm-magic/tiny", "phi-2") + "adapter: lora\ntrainer: {type: finetune}\n")
    assert config.base_model == "microsoft/phi-2"
    assert config.input_feature.preprocessing.pretrained_model_name_or_path == "microsoft/phi-2"
    # No hard-coded target list at config time: the loader discovers them per architecture.
    assert config.adapter.target_modules is None
    assert "adapter.target_modules" not in derived_paths(config)


def test_explicit_max_new_tokens_32_is_kept_unset_is_derived():
    explicit = load_config(BASE + "generation: {max_new_tokens: 32}\npreprocessing: {global_max_sequence_length: 256}\n")
    assert explicit.generation.max_new_tokens == 32  # Ludwig would rewrite this to 256
    unset = load_config(BASE + "preprocessing: {global_max_sequence_length: 256}\n")
    assert unset.generation.max_new_tokens == 256
    assert unset.output_feature.decoder.max_new_tokens == 256
    by_output = load_config(BASE.replace("name: answer, type: text",
                                         "name: answer, type: text, preprocessing: {max_sequence_length: 64}")
                            + "preprocessing: {global_max_sequence_length: 512}\n")
    assert by_output.generation.max_new_tokens == 64
    assert load_config(BASE).generation.max_new_tokens == 32 and load_config(BASE).derived == []


def test_retrieval_k_zero_becomes_one():
    config = load_config(BASE + "prompt: {task: t, retrieval: {type: random}}\npreprocessing: {split: {type: fixed}}\n")
    assert config.prompt.retrieval.k == 1
    assert derived_paths(config)["prompt.retrieval.k"] == 1


def test_feature_names_are_sanitised_like_ludwig():
    config = load_config(BASE.replace("name: question", "name: \"q.text(1)\""))
    assert config.input_feature.name == "q_text_1_" and config.input_feature.column == "q_text_1_"
    assert derived_paths(config)["input_features[0].name"] == "q_text_1_"


def test_category_derivations():
    config = load_config(BASE.replace("{name: answer, type: text}",
                                      "{name: label, type: category, preprocessing: {vocab: [Yes, no], "
                                      "fallback_label: unsure}}"))
    feature = config.output_feature
    assert feature.preprocessing.vocab == ["Yes", "no", "unsure"]
    assert feature.decoder.fallback_label == "unsure"
    assert feature.decoder.match["Yes"].value == "yes"  # the output is lower-cased before matching
    assert "output_features[0].decoder.match" in derived_paths(config)


def test_untyped_trainer_stays_none_and_is_flagged():
    config = load_config(BASE + "trainer: {epochs: 3, learning_rate: 0.0001}\n")
    assert config.trainer.type == "none"
    assert derived_paths(config)["trainer.type"] == "none"


def test_finetune_defaults_are_ours_and_flagged():
    # Not the embedded model: it has its own recipe (tests/runtime/embedded/test_embedded_recipe.py).
    config = load_config(BASE.replace("llm-magic/tiny", "gpt2") + "trainer: {type: finetune}\n")
    assert (config.trainer.learning_rate, config.trainer.epochs, config.trainer.early_stop) == (0.0002, 3, 5)
    assert {"trainer.learning_rate", "trainer.epochs"} <= set(derived_paths(config))
    assert config.is_finetune


def test_rope_type_alias_and_forced_padding():
    config = load_config(BASE + "model_parameters: {rope_scaling: {type: dynamic, factor: 2}}\n")
    assert config.model_parameters.rope_scaling.rope_type == "dynamic"
    padded = load_config(BASE.replace("name: question, type: text", "name: question, type: text, "
                                                                     "preprocessing: {padding: right}"))
    assert padded.input_feature.preprocessing.padding == "left"
    assert derived_paths(padded)["input_features[0].preprocessing.padding"] == "left"


def test_type_defaults_merge_into_features():
    config = load_config(BASE + "defaults: {text: {preprocessing: {max_sequence_length: 128, lowercase: true}}}\n")
    assert config.input_feature.preprocessing.max_sequence_length == 128
    assert config.output_feature.preprocessing.max_sequence_length == 128
    assert config.input_feature.preprocessing.lowercase


def test_yes_no_labels_stay_text():
    config = load_config(BASE.replace("{name: answer, type: text}",
                                      "{name: label, type: category, preprocessing: {vocab: [yes, no], "
                                      "fallback_label: no}}"))
    assert config.output_feature.preprocessing.vocab == ["yes", "no"]


def test_diff_from_defaults_and_to_dict():
    config = load_config(BASE + "adapter: {type: lora, r: 16}\ntrainer: {type: finetune, epochs: 2}\n")
    diff = config.diff_from_defaults()
    assert diff["adapter"] == {"type": "lora", "r": 16}
    assert diff["trainer"] == {"type": "finetune", "epochs": 2}
    assert "generation" not in diff and "prompt" not in diff
    full = config.to_dict()
    assert full["adapter"]["alpha"] == 32 and full["generation"]["temperature"] == 0.1
    assert full["trainer"]["optimizer"]["type"] == "adam"
    assert load_config(full).to_dict() == full
    assert config.line_of("adapter") == 4 and config.line_of("nope") is None


def test_validation_is_offline_and_torch_free():
    code = ("import sys; from llm_magic import load_config; "
            "load_config('base_model: some-org/unknown-model\\ninput_features: [{name: q, type: text}]\\n"
            "output_features: [{name: a, type: text}]\\n'); "
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'huggingface_hub') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_config_reference_is_up_to_date():
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, str(root / "scripts" / "gen_config_reference.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_non_string_source_is_rejected():
    with pytest.raises(ConfigError, match="YAML text or a dict"):
        load_config(42)


def test_the_source_of_a_dict_config_is_a_copy():
    from llm_magic.runtime.config import load_config

    raw = {"model_type": "llm", "base_model": "llm-magic/tiny",
           "input_features": [{"name": "q", "type": "text"}], "output_features": [{"name": "a", "type": "text"}]}
    config = load_config(raw)
    raw["input_features"][0]["name"] = "changed"
    assert config.source["input_features"][0]["name"] == "q"
    assert load_config(config.source).to_dict() == config.to_dict()
