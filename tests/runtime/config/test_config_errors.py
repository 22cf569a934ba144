"""load_config error reporting: key paths, YAML lines, did-you-mean, everything at once."""
from __future__ import annotations

import pytest

from llm_magic import ConfigError, load_config

BASE = """\
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
"""


def errors_of(text_or_dict):
    with pytest.raises(ConfigError) as info:
        load_config(text_or_dict)
    return info.value.errors


def only(errors, path):
    found = [e for e in errors if e.path == path]
    assert found, f"no error at {path}: {[str(e) for e in errors]}"
    return found[0]


def test_minimal_config_loads_with_ludwig_defaults():
    config = load_config(BASE)
    assert config.base_model == "llm-magic/tiny"
    assert config.input_feature.name == "question" and config.input_feature.column == "question"
    assert config.output_feature.name == "answer"
    assert config.trainer.type == "none"  # Ludwig's default trainer
    assert config.adapter is None and config.quantization is None
    assert config.generation.max_new_tokens == 32 and config.generation.temperature == 0.1
    assert config.preprocessing.split.probabilities == [0.7, 0.1, 0.2]
    assert config.source == BASE
    assert config.line_of("output_features") == 4


def test_unknown_key_under_lora_suggests_alpha_with_line():
    err = only(errors_of(BASE + "adapter:\n  type: lora\n  lora_alpha: 16\n"), "adapter.lora_alpha")
    assert err.line == 7
    assert "did you mean `alpha`" in err.message.lower()


def test_unknown_keys_suggest_close_names_everywhere():
    errors = errors_of(BASE + "generation: {temprature: 0.3}\ntrainer: {type: finetune, learnig_rate: 0.1}\n"
                              "promt: {task: x}\n")
    assert "`temperature`" in only(errors, "generation.temprature").message
    assert "`learning_rate`" in only(errors, "trainer.learnig_rate").message
    assert "`prompt`" in only(errors, "promt").message
    assert only(errors, "promt").line == 7


def test_every_problem_is_reported_at_once():
    text = BASE + """\
adapter: {type: lora, r: 0}
trainer: {type: finetune, batch_size: 0, epochs: many}
generation: {top_p: 2}
quantization: {bits: 3}
"""
    errors = errors_of(text)
    paths = {e.path for e in errors}
    assert {"adapter.r", "trainer.batch_size", "trainer.epochs", "generation.top_p", "quantization.bits"} <= paths
    assert only(errors, "trainer.epochs").line == 6
    assert "integer" in only(errors, "trainer.epochs").message
    assert "auto" in only(errors, "trainer.batch_size").message
    # Sorted by line so the list reads top to bottom.
    lines = [e.line for e in errors if e.line is not None]
    assert lines == sorted(lines)


def test_schema_and_rule_errors_come_together():
    # adapter.r is a field error; the category output under finetune is a cross-field rule.
    text = """\
base_model: llm-magic/tiny
input_features: [{name: q, type: text}]
output_features: [{name: label, type: category, preprocessing: {fallback_label: x}}]
adapter: {type: lora, r: -2}
trainer: {type: finetune}
"""
    errors = errors_of(text)
    assert {"adapter.r", "output_features[0].type"} <= {e.path for e in errors}


def test_dict_input_has_no_lines_but_paths():
    errors = errors_of({"base_model": "x", "input_features": [{"name": "q", "type": "text"}],
                        "output_features": [{"name": "a", "type": "text"}], "adapter": {"type": "lora", "r": "x"}})
    err = only(errors, "adapter.r")
    assert err.line is None


def test_yaml_syntax_error_names_the_line():
    errors = errors_of(BASE + "adapter:\n  type: lora\n   r: 8\n")
    assert len(errors) == 1 and errors[0].line == 7
    assert "YAML" in errors[0].message


def test_missing_required_keys_and_empty_config():
    errors = errors_of("model_type: llm\n")
    assert {"base_model", "input_features", "output_features"} <= {e.path for e in errors}
    assert "llm-magic/tiny" in only(errors, "base_model").message
    assert errors_of("")[0].message.startswith("the config is empty")
    assert "mapping" in errors_of("- a\n- b\n")[0].message


def test_unknown_adapter_type_did_you_mean():
    err = only(errors_of(BASE + "adapter: {type: lroa}\n"), "adapter")
    assert "`lora`" in err.message and err.line == 5


def test_unknown_output_type_is_named():
    err = only(errors_of(BASE.replace("name: answer, type: text", "name: answer, type: txt")), "output_features[0]")
    assert "`text`" in err.message and err.line == 4


def test_duplicate_yaml_key_is_an_error():
    err = only(errors_of(BASE + "generation: {temperature: 0.1}\ngeneration: {top_k: 5}\n"), "generation")
    assert "duplicate" in err.message and err.line == 6


def test_error_message_is_one_readable_block():
    with pytest.raises(ConfigError) as info:
        load_config(BASE + "adapter: {type: lora, lora_alpha: 3}\n")
    text = str(info.value)
    assert text.startswith("Invalid llm config: 1 problem")
    assert "line 5: adapter.lora_alpha" in text
    assert "pydantic" not in text.lower() and "errors.pydantic.dev" not in text


def test_misspelt_choice_suggests_the_option():
    errors = errors_of(BASE + "trainer: {type: finetune, optimizer: {type: adamw8bit}}\n"
                              "quantization: {bnb_4bit_compute_dtype: bf16}\n")
    assert "Did you mean `adamw_8bit`?" in only(errors, "trainer.optimizer.type").message
    assert "Did you mean `bfloat16`?" in only(errors, "quantization.bnb_4bit_compute_dtype").message
