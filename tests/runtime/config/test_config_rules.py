"""Every cross-field rule: a violating config fails with an error naming the key path and line."""
from __future__ import annotations

import pytest

from llm_magic import ConfigError, load_config

HEAD = "model_type: llm\nbase_model: llm-magic/tiny\n"
IN = "input_features: [{name: question, type: text}]\n"
OUT = "output_features: [{name: answer, type: text}]\n"
BASE = HEAD + IN + OUT
FT = "trainer: {type: finetune}\n"
CAT = ("output_features:\n  - name: label\n    type: category\n"
       "    preprocessing: {vocab: [yes, no], fallback_label: no}\n")

# (case id, config text, path of the expected error, words the message must contain)
VIOLATIONS = [
    ("two inputs", HEAD + "input_features: [{name: a, type: text}, {name: b, type: text}]\n" + OUT,
     "input_features", "exactly one input"),
    ("non-text input", HEAD + "input_features: [{name: a, type: number}]\n" + OUT,
     "input_features[0].type", "type: text"),
    ("two outputs", HEAD + IN + "output_features: [{name: a, type: text}, {name: b, type: text}]\n",
     "output_features", "exactly one output"),
    ("same names", HEAD + IN + "output_features: [{name: question, type: text}]\n",
     "output_features[0].name", "column"),
    ("finetune category", HEAD + IN + CAT + FT, "output_features[0].type", "text output"),
    ("category without fallback",
     HEAD + IN + "output_features: [{name: label, type: category, preprocessing: {vocab: [a, b]}}]\n",
     "output_features[0].preprocessing.fallback_label", "fallback_label"),
    ("one-label vocab",
     HEAD + IN + "output_features: [{name: l, type: category, preprocessing: {vocab: [a], fallback_label: a}}]\n",
     "output_features[0].preprocessing.vocab", "two different labels"),
    ("category without match or vocab",
     HEAD + IN + "output_features: [{name: l, type: category, preprocessing: {fallback_label: a}}]\n",
     "output_features[0].decoder.match", "vocab"),
    ("match label not in vocab", HEAD + IN + CAT
     + "    decoder: {type: category_extractor, match: {maybe: {type: contains, value: maybe}}}\n",
     "output_features[0].decoder.match.maybe", "not in preprocessing.vocab"),
    ("bad match regex", HEAD + IN + CAT
     + "    decoder: {match: {yes: {type: regex, value: '(yes'}}}\n",
     "output_features[0].decoder.match.yes.value", "regular expression"),
    ("task without __task__", BASE + "prompt: {task: Answer., template: 'Q: {question}'}\n",
     "prompt.template", "{__task__}"),
    ("retrieval without __context__",
     BASE + "prompt: {template: 'Q: {question}', retrieval: {type: random, k: 2}}\n"
     "preprocessing: {split: {type: fixed}}\n", "prompt.template", "{__context__}"),
    ("template without placeholder", BASE + "prompt: {template: 'just text'}\n", "prompt.template", "placeholder"),
    ("template uses output", BASE + "prompt: {template: '{question} -> {answer}'}\n",
     "prompt.template", "output column"),
    ("template bad braces", BASE + "prompt: {template: 'JSON {\"a\": {question}'}\n",
     "prompt.template", "doubled"),
    ("template non-float spec", BASE + "prompt: {template: '{question:>10}'}\n", "prompt.template", "float"),
    ("retrieval only", BASE + "prompt: {retrieval: {type: random, k: 1}}\npreprocessing: {split: {type: fixed}}\n",
     "prompt.task", "task is required"),
    ("k without type", BASE + "prompt: {task: t, retrieval: {k: 3}}\n", "prompt.retrieval.k", "type"),
    ("model_name without type", BASE + "prompt: {task: t, retrieval: {model_name: m}}\n",
     "prompt.retrieval.model_name", "semantic"),
    ("semantic without model", BASE + "prompt: {task: t, retrieval: {type: semantic}}\n"
     "preprocessing: {split: {type: fixed}}\n", "prompt.retrieval.model_name", "sentence-transformers"),
    ("retrieval without fixed split", BASE + "prompt: {task: t, retrieval: {type: random}}\n",
     "preprocessing.split.type", "fixed"),
    ("quantized training without adapter", BASE + "quantization: {bits: 4}\n" + FT, "adapter", "LoRA"),
    ("quantized training with ia3", BASE + "quantization: {bits: 4}\nadapter: ia3\n" + FT, "adapter.type", "lora"),
    ("quantized training with adapters", BASE + "quantization: {bits: 8}\n"
     "adapters: {adapters: {a: {type: lora}}}\n" + FT, "adapters", "single"),
    ("torchao without mode", BASE + "quantization: {backend: torchao}\n", "quantization.mode", "torchao"),
    ("bnb with mode", BASE + "quantization: {mode: int8_weight_only}\n", "quantization.mode", "backend: torchao"),
    ("bnb with qat", BASE + "quantization: {qat: true}\n", "quantization.qat", "torchao"),
    ("qat float8", BASE + "quantization: {backend: torchao, mode: float8, qat: true}\n", "quantization.qat", "float8"),
    ("torchao with bnb field", BASE + "quantization: {backend: torchao, mode: int8_dynamic, bnb_4bit_quant_type: fp4}\n",
     "quantization.bnb_4bit_quant_type", "bitsandbytes"),
    ("merge into 4-bit", BASE + "quantization: {bits: 4}\n"
     "adapter: {type: lora, postprocessor: {merge_adapter_into_base_model: true}}\n" + FT,
     "adapter.postprocessor.merge_adapter_into_base_model", "bits: 8"),
    ("merge non-lora", BASE + "adapter: {type: ia3, postprocessor: {merge_adapter_into_base_model: true}}\n" + FT,
     "adapter.postprocessor.merge_adapter_into_base_model", "LoRA-family"),
    ("adapter without finetune", BASE + "adapter: lora\n", "adapter", "finetune"),
    ("adapter with untyped trainer", BASE + "adapter: lora\ntrainer: {epochs: 3, learning_rate: 0.0001}\n",
     "adapter", "no `type`"),
    ("adapter and adapters", BASE + "adapter: lora\nadapters: {adapters: {a: lora}}\n" + FT,
     "adapters", "not both"),
    ("empty adapters", BASE + "adapters: {adapters: {}}\n" + FT, "adapters.adapters", "at least one"),
    ("unknown active", BASE + "adapters: {adapters: {a: lora}, active: b}\n" + FT, "adapters.active", "`b`"),
    ("merge name collides", BASE + "adapters: {adapters: {a: lora, b: lora}, merge: {name: a, sources: [a, b]}}\n" + FT,
     "adapters.merge.name", "already"),
    ("merge unknown source", BASE + "adapters: {adapters: {a: lora}, merge: {sources: [a, c]}}\n" + FT,
     "adapters.merge.sources", "c"),
    ("merge weights length", BASE + "adapters: {adapters: {a: lora, b: lora}, merge: {sources: [a, b], weights: [1]}}\n"
     + FT, "adapters.merge.weights", "one per source"),
    ("ties without density", BASE + "adapters: {adapters: {a: lora, b: lora}, merge: {sources: [a, b], "
     "combination_type: ties}}\n" + FT, "adapters.merge.density", "density"),
    ("eva without config", BASE + "adapter: {type: lora, init_lora_weights: eva}\n" + FT,
     "adapter.eva_config", "eva_config"),
    ("loftq without config", BASE + "adapter: {type: lora, init_lora_weights: loftq}\n" + FT,
     "adapter.loftq_config", "loftq_config"),
    ("ia3 feedforward not subset", BASE + "adapter: {type: ia3, target_modules: [k_proj], "
     "feedforward_modules: [down_proj]}\n" + FT, "adapter.feedforward_modules", "subset"),
    ("oft r and block size", BASE + "adapter: {type: oft, r: 4}\n" + FT, "adapter.r", "exactly one"),
    ("adalora schedule", BASE + "adapter: {type: adalora, tinit: 50, tfinal: 60, total_step: 100}\n" + FT,
     "adapter.total_step", "smaller"),
    ("prompt tuning text", BASE + "adapter: {type: prompt_tuning, prompt_tuning_init: TEXT}\n" + FT,
     "adapter.prompt_tuning_init_text", "init text"),
    ("effective batch not multiple", BASE + "trainer: {type: finetune, batch_size: 3, effective_batch_size: 8}\n",
     "trainer.effective_batch_size", "multiple of batch_size"),
    ("effective batch vs accumulation", BASE + "trainer: {type: finetune, gradient_accumulation_steps: 3, "
     "effective_batch_size: 8}\n", "trainer.effective_batch_size", "gradient_accumulation_steps"),
    ("max batch too small", BASE + "trainer: {type: finetune, batch_size: 8, max_batch_size: 4}\n",
     "trainer.max_batch_size", "smaller"),
    ("two checkpoint schedules", BASE + "trainer: {type: finetune, steps_per_checkpoint: 10, "
     "checkpoints_per_epoch: 2}\n", "trainer.checkpoints_per_epoch", "not both"),
    ("bad freeze regex", BASE + "trainer: {type: finetune, layers_to_freeze_regex: '(['}\n",
     "trainer.layers_to_freeze_regex", "regular expression"),
    ("validation field", BASE + "trainer: {type: finetune, validation_field: nope}\n",
     "trainer.validation_field", "answer"),
    ("sample size with ratio", BASE + "preprocessing: {sample_ratio: 0.5, sample_size: 10}\n",
     "preprocessing.sample_size", "not both"),
    ("stratify without column", BASE + "preprocessing: {split: {type: stratify}}\n",
     "preprocessing.split.column", "column"),
    ("split probabilities", BASE + "preprocessing: {split: {probabilities: [0.5, 0.2, 0.2]}}\n",
     "preprocessing.split.probabilities", "sum to 1"),
    ("rope factor", BASE + "model_parameters: {rope_scaling: {rope_type: linear, factor: 1.0}}\n",
     "model_parameters.rope_scaling.factor", "> 1"),
    ("rope missing field", BASE + "model_parameters: {rope_scaling: {factor: 2.0}}\n",
     "model_parameters.rope_scaling.rope_type", "missing"),
    ("remote code", BASE + "trust_remote_code: true\n", "trust_remote_code", "never runs"),
    ("hyperopt", BASE + "hyperopt: {goal: minimize}\n", "hyperopt", "not supported"),
    ("grpo trainer", BASE + "trainer: {type: grpo}\n", "trainer", "not supported by llm_magic"),
    ("kto batch of one", BASE + "adapter: {type: lora}\ntrainer: {type: kto, batch_size: 1}\n", "trainer.batch_size", "at least 2 rows"),
    ("ray fields on local", BASE + "backend: {processor: {type: dask}}\n", "backend.processor", "ray"),
    ("finetune on ray", BASE + "backend: ray\n" + FT, "backend.type", "local"),
    ("model type", BASE.replace("model_type: llm", "model_type: ecd"), "model_type", "'llm'"),
    ("defaults typo", BASE + "defaults: {text: {preprocessing: {max_sequence_lenght: 10}}}\n",
     "defaults.text.preprocessing.max_sequence_lenght", "max_sequence_length"),
]


@pytest.mark.parametrize("text,path,words", [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_violation_names_key_path_and_line(text, path, words):
    with pytest.raises(ConfigError) as info:
        load_config(text)
    matching = [e for e in info.value.errors if e.path == path]
    assert matching, f"expected an error at {path}, got: {[str(e) for e in info.value.errors]}"
    error = matching[0]
    assert words.lower() in error.message.lower(), error.message
    assert error.line is not None and 1 <= error.line <= text.count("\n") + 1


def test_valid_neighbours_of_the_rules_load():
    """The allowed side of each rule: these must not be rejected."""
    load_config(BASE + "adapter: {type: lora, pretrained_adapter_weights: org/adapter}\ntrainer: {type: none}\n")
    load_config(BASE + "quantization: {bits: 4}\n")  # quantized inference needs no adapter
    load_config(BASE + "quantization: {bits: 8}\nadapter: {type: lora, postprocessor: "
                       "{merge_adapter_into_base_model: true}}\n" + FT)
    load_config(BASE + "trainer: {type: finetune, batch_size: 2, gradient_accumulation_steps: 4, "
                       "effective_batch_size: 8}\n")
    load_config(BASE + "prompt: {template: 'Price {question:.2f}'}\n")
    load_config(BASE + "prompt: {template: 'JSON {{\"a\": 1}} {question}'}\n")
    load_config(BASE + "adapter: {type: oft, r: 4, oft_block_size: 0}\n" + FT)
    load_config(BASE + "model_parameters: {rope_scaling: {type: linear, factor: 2.0}}\n")


def test_rules_on_a_broken_section_do_not_cascade():
    # The adapter block is broken, so adapter rules are skipped instead of guessing.
    with pytest.raises(ConfigError) as info:
        load_config(BASE + "adapter: {type: lora, r: x}\n")
    assert [e.path for e in info.value.errors] == ["adapter.r"]
