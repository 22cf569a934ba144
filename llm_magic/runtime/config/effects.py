"""What every config key does: the registry behind "no key is accepted and silently ignored".

Every field of every schema class (``Class.field``) is in exactly one of these groups; the test
``tests/runtime/config/test_config_key_effects.py`` enumerates the schema and fails for a field
that is in none of them, so a new key cannot be added without deciding what it does:

- :data:`READ_BY` — read by runtime code: the class's fields are looked up by name in the listed
  modules (attribute access, ``getattr``/``.get`` string or dict key); the test checks each name
  occurs there.
- :data:`PASSED_THROUGH` — handed wholesale to a library class (``transformers.GenerationConfig``,
  PEFT configs, torch/bitsandbytes optimizers); the test checks each name is a real parameter of
  that class in the installed version.
- :data:`DERIVED` — llm_magic sets the value itself (like Ludwig); a user value that differs is
  listed in ``config.derived`` as rewritten.
- :data:`REFUSED` — a value other than the default is an error naming the key (config time unless
  the reason says otherwise).
- :data:`WITHOUT_EFFECT` — accepted for Ludwig compatibility and changes nothing; a user who sets
  one to a non-default value sees it in ``config.without_effect()`` and in the ``%%llm_config``
  display. ``docs/ludwig-compatibility.md`` lists them (checked by the same test).

Fields whose type allows a single value (``type: Literal["lora"]`` in ``LoraAdapter``) carry no
choice and need no entry. Nothing here imports torch, nor the schema: the functions that walk
the schema take its root class (``LLMConfig``) or a config, so ``schema/root.py`` can use them.
"""
from __future__ import annotations

import typing
from typing import Any, Iterator

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

_RAY = "Ray backend setting; llm_magic runs in this kernel (or in `%llm_train --processes` workers)"
_HF_TOKENIZER = "unused by Hugging Face tokenizers (LLMs use the base model's own vocabulary)"
_ONE_OUTPUT = "an LLM config has one output feature, so there is nothing to combine or depend on"

#: ``Class.field`` -> why it has no effect. Reported when set to a non-default value.
WITHOUT_EFFECT: dict[str, str] = {
    "LLMConfig.ludwig_version": "informational only",
    "LLMConfig.preset": "Ludwig's ECD quality presets do not apply to LLMs",
    "InputFeature.tied": "feature tying is an ECD encoder feature; LLM inputs have no encoder to tie",
    "TextInputPreprocessing.computed_fill_value": "internal; fill_value is what fills missing inputs",
    "TextInputPreprocessing.most_common": _HF_TOKENIZER,
    "TextInputPreprocessing.vocab_file": _HF_TOKENIZER,
    "TextInputPreprocessing.padding_symbol": _HF_TOKENIZER + "; padding uses the tokenizer's pad token",
    "TextInputPreprocessing.unknown_symbol": _HF_TOKENIZER,
    "TextInputPreprocessing.ngram_size": _HF_TOKENIZER,
    "TextInputPreprocessing.cache_encoder_embeddings": "LLM inputs have no separate encoder to cache",
    "PreprocessingConfig.cache_encoder_embeddings": "LLM inputs have no separate encoder to cache",
    "TextExtractorDecoder.match_strategy": "match rules apply to category outputs only",
    "TextExtractorDecoder.vocab_file": _HF_TOKENIZER,
    "TextExtractorDecoder.input_size": "internal to Ludwig's ECD decoders",
    "TextLoss.type": "fine-tuning always uses next-token cross entropy on the target tokens",
    "TextLoss.weight": _ONE_OUTPUT + " (the single loss is not weighted against another)",
    "TextLoss.robust_lambda": "label smoothing is not applied by the llm_magic fine-tune loop",
    "TextLoss.confidence_penalty": "not applied by the llm_magic fine-tune loop",
    "TextLoss.class_similarities": "text outputs have no classes",
    "TextLoss.class_similarities_temperature": "text outputs have no classes",
    "TextLoss.unique": "not applied by the llm_magic fine-tune loop",
    "TextOutputFeature.dependencies": _ONE_OUTPUT,
    "TextOutputFeature.reduce_input": _ONE_OUTPUT,
    "TextOutputFeature.reduce_dependencies": _ONE_OUTPUT,
    "CategoryOutputFeature.dependencies": _ONE_OUTPUT,
    "CategoryOutputFeature.reduce_input": _ONE_OUTPUT,
    "CategoryOutputFeature.reduce_dependencies": _ONE_OUTPUT,
    "CategoryOutputFeature.top_k": "hits-at-k needs label scores; the report has accuracy, macro F1 and "
                                   "the confusion matrix",
    "CategoryOutputFeature.default_validation_metric": "category outputs use trainer none, which selects "
                                                      "no checkpoint",
    "CategoryExtractorDecoder.match_strategy": "each match rule has its own `type` (default contains)",
    "CategoryExtractorDecoder.str2idx": "internal; labels come from preprocessing.vocab",
    "CategoryExtractorDecoder.vocab_file": _HF_TOKENIZER,
    "CategoryExtractorDecoder.input_size": "internal to Ludwig's ECD decoders",
    "CategoryLoss.type": "category outputs are never trained (trainer none)",
    "CategoryLoss.weight": "category outputs are never trained (trainer none)",
    "CategoryLoss.class_weights": "category outputs are never trained (trainer none)",
    "CategoryLoss.robust_lambda": "category outputs are never trained (trainer none)",
    "CategoryLoss.confidence_penalty": "category outputs are never trained (trainer none)",
    "CategoryLoss.class_similarities": "category outputs are never trained (trainer none)",
    "CategoryLoss.class_similarities_temperature": "category outputs are never trained (trainer none)",
    "BackendConfig.type": "`ray` runs in this kernel like `local` (Ludwig has no Ray path for LLM "
                          "inference worth a notebook)",
    "BackendConfig.cache_dir": "preprocessed data is not cached on disk (retrieval indices use "
                               "$LLM_MAGIC_CACHE)",
    "BackendConfig.credentials": "data is read by pandas/datasets with their own credentials",
    "BackendConfig.processor": _RAY,
    "BackendConfig.loader": _RAY,
    "BackendConfig.preprocessor_kwargs": _RAY,
    "ProcessorConfig.type": _RAY,
    "ProcessorConfig.parallelism": _RAY,
    "ProcessorConfig.persist": _RAY,
    "RayTrainerConfig.num_workers": _RAY + "; use `%llm_train --processes N`",
    "RayTrainerConfig.use_gpu": _RAY,
    "RayTrainerConfig.resources_per_worker": _RAY,
}

# The trainer: keys that no llm_magic run reads (training/settings.py keeps the run-time list,
# INERT_KEYS, in step for the top-level ones).
_NO_EFFECT_IN_ONE_PROCESS = "no effect in a notebook run (docs/training.md)"
for _cls in ("NoneTrainer", "FinetuneTrainer"):
    WITHOUT_EFFECT.update({
        f"{_cls}.base_learning_rate": "multi-worker learning-rate scaling; " + _NO_EFFECT_IN_ONE_PROCESS,
        f"{_cls}.evaluate_training_set": _NO_EFFECT_IN_ONE_PROCESS,
        f"{_cls}.enable_profiling": "torch.profiler is not wired into the run; " + _NO_EFFECT_IN_ONE_PROCESS,
        f"{_cls}.profiler": "used only with enable_profiling, which has no effect",
    })
for _name in ("wait", "warmup", "active", "repeat", "skip_first"):
    WITHOUT_EFFECT[f"ProfilerConfig.{_name}"] = "used only with enable_profiling, which has no effect"
# learning_rate_scaling is read (training/settings.py): it scales the learning rate on several
# processes; in one process the run notes name it (INERT_KEYS).
for _name in ("max_batch_size", "increase_batch_size_on_plateau",
              "increase_batch_size_on_plateau_patience", "increase_batch_size_on_plateau_rate",
              "increase_batch_size_eval_metric", "increase_batch_size_eval_split", "bucketing_field",
              "model_soup", "model_soup_top_k"):
    WITHOUT_EFFECT[f"FinetuneTrainer.{_name}"] = _NO_EFFECT_IN_ONE_PROCESS
for _name in ("reduce_on_plateau", "reduce_on_plateau_patience", "reduce_on_plateau_rate",
              "reduce_eval_metric", "reduce_eval_split"):
    WITHOUT_EFFECT[f"SchedulerConfig.{_name}"] = "the learning rate follows `decay`; plateau reduction " \
                                                 "is not implemented"
for _name in ("block_wise", "percentile_clipping"):
    WITHOUT_EFFECT[f"OptimizerConfig.{_name}"] = "the installed bitsandbytes optimizers no longer take it " \
                                                 "(they are always block-wise, without percentile clipping)"
WITHOUT_EFFECT["SchedulerConfig.t_mult"] = "cosine restarts use cycles of equal length (transformers' " \
                                           "cosine_with_restarts)"
WITHOUT_EFFECT["SchedulerConfig.wsd_decay_fraction"] = "the decay phase is what wsd_warmup_fraction and " \
                                                       "wsd_stable_fraction leave"
# Trainer `none` does not train: only the evaluation settings matter.
_NOT_TRAINING = "trainer none does not train (use type: finetune)"
for _name in ("learning_rate", "batch_size", "should_shuffle", "train_steps", "steps_per_checkpoint",
              "checkpoints_per_epoch", "validation_metric", "skip_all_evaluation",
              "epochs", "early_stop", "packing", "packing_max_sequences_per_pack"):
    WITHOUT_EFFECT[f"NoneTrainer.{_name}"] = _NOT_TRAINING

#: ``Class.field`` -> the rule that refuses a non-default value (and where).
REFUSED: dict[str, str] = {
    "LLMConfig.trust_remote_code": "rules/model.py no_remote_code",
    "LLMConfig.hyperopt": "rules/model.py no_hyperopt",
    "FinetuneTrainer.validation_field": "rules/features.py validation_field_is_the_output (one output, "
                                        "so its name is the only value)",
    "NoneTrainer.validation_field": "rules/features.py validation_field_is_the_output",
    "LLMConfig.is_multimodal": "models/loader.py, at model load (text-only models)",
    "QuantizationConfig.backend": "models/quantization.py, at model load (torchao is not supported yet)",
    "QuantizationConfig.mode": "rules/model.py (torchao only) and at model load",
    "QuantizationConfig.qat": "rules/model.py (torchao only) and at model load",
    "ClassifierDecoder.type": "rules/unsupported.py no_classifier_head",
    "ClassifierDecoder.num_fc_layers": "rules/unsupported.py no_classifier_head",
    "ClassifierDecoder.fc_output_size": "rules/unsupported.py no_classifier_head",
    "ClassifierDecoder.fc_dropout": "rules/unsupported.py no_classifier_head",
    "GenerationConfig.penalty_alpha": "rules/unsupported.py hub_only_decoding",
    "GenerationConfig.num_beam_groups": "rules/unsupported.py hub_only_decoding",
    "GenerationConfig.diversity_penalty": "rules/unsupported.py hub_only_decoding",
    "GenerationConfig.force_words_ids": "rules/unsupported.py hub_only_decoding",
    "GenerationConfig.forced_decoder_ids": "rules/unsupported.py hub_only_decoding",
}
# AdaLoRA inherits LoRA's fields, but PEFT's AdaLoraConfig takes none of these.
for _name in sorted(("use_dora", "loftq_config", "eva_config", "init_lora_weights", "use_rslora",
                     "alpha_pattern", "layer_replication")):
    REFUSED[f"AdaLoraAdapter.{_name}"] = "rules/unsupported.py adalora_lora_only_fields"

#: ``Class.field`` -> what llm_magic sets it to (a differing user value is shown as rewritten).
DERIVED: dict[str, str] = {
    "TextInputPreprocessing.pretrained_model_name_or_path": "base_model",
    "TextInputPreprocessing.padding": "left",
    "TextOutputPreprocessing.pretrained_model_name_or_path": "base_model",
    "TextOutputPreprocessing.padding": "left",
    "TextExtractorDecoder.pretrained_model_name_or_path": "base_model",
    "TextExtractorDecoder.max_new_tokens": "generation.max_new_tokens",
    "CategoryExtractorDecoder.pretrained_model_name_or_path": "base_model",
    "CategoryExtractorDecoder.fallback_label": "preprocessing.fallback_label",
    "PromptTuningAdapter.tokenizer_name_or_path": "base_model when unset",
}

#: Class -> the library class its fields are handed to (verified against the installed signature).
PASSED_THROUGH: dict[str, str] = {
    # sequence_bias's text keys become token ids first (generation/settings.py sequence_bias_ids).
    "GenerationConfig": "transformers:GenerationConfig",
    "QuantizationConfig": "transformers:BitsAndBytesConfig",
    # A field the chosen type does not take is refused (rules/training.py optimizer_fields_fit_type).
    "OptimizerConfig": "the optimizer class of trainer.optimizer.type (training/optimizers.py)",
    "EvaConfig": "peft:EvaConfig",
    "LoftQConfig": "peft:LoftQConfig",
    # Every adapter kind: its ``peft_class`` (with ``peft_renames``); see schema/adapters/base.py.
    **{name: "peft adapter config" for name in (
        "LoraAdapter", "AdaLoraAdapter", "IA3Adapter", "VeraAdapter", "LoHaAdapter", "LoKrAdapter",
        "FourierFTAdapter", "BoftAdapter", "TinyLoraAdapter", "C3AAdapter", "OftAdapter", "HraAdapter",
        "WaveFTAdapter", "LNTuningAdapter", "VBLoraAdapter", "PromptTuningAdapter",
        "PrefixTuningAdapter", "PTuningAdapter")},
}

#: Class -> runtime modules (relative to ``llm_magic/runtime``) that read its fields by name.
READ_BY: dict[str, tuple[str, ...]] = {
    "LLMConfig": ("models/loader.py", "models/manager.py", "data/prepare.py", "config/derive.py",
                  "config/loader.py", "models/adapters.py", "generation/runner.py", "data/splits.py",
                  "training/api.py", "models/parameters.py", "distributed/strategy.py"),
    "InputFeature": ("data/prompts.py", "data/sources.py", "data/prepare.py"),
    "TextInputPreprocessing": ("data/sources.py", "data/prompts.py", "data/tokenize.py", "data/prepare.py",
                               "generation/inputs.py"),
    "TextOutputFeature": ("data/prepare.py", "data/sources.py", "config/derive.py", "evaluation/evaluate.py"),
    "TextOutputPreprocessing": ("data/sources.py", "data/tokenize.py", "data/prepare.py", "config/derive.py",
                                "evaluation/evaluate.py"),
    "TextExtractorDecoder": (),
    "CategoryOutputFeature": ("data/prepare.py", "data/sources.py", "data/prompts.py", "evaluation/evaluate.py",
                              "generation/runner.py"),
    "CategoryOutputPreprocessing": ("data/sources.py", "data/prepare.py", "config/derive.py",
                                    "generation/labels.py", "evaluation/evaluate.py"),
    "CategoryExtractorDecoder": ("generation/labels.py", "generation/runner.py", "evaluation/evaluate.py"),
    "MatchRule": ("generation/labels.py",),
    "PromptConfig": ("data/prompts.py", "data/retrieval.py"),
    "RetrievalConfig": ("data/retrieval.py", "data/prompts.py", "config/derive.py"),
    "PreprocessingConfig": ("data/splits.py", "data/prepare.py", "data/balance.py", "data/tokenize.py"),
    "RandomSplit": ("data/splits.py",),
    "FixedSplit": ("data/splits.py",),
    "StratifySplit": ("data/splits.py",),
    "DatetimeSplit": ("data/splits.py",),
    "HashSplit": ("data/splits.py",),
    "DefaultsConfig": ("config/loader.py",),
    "TypeDefaults": ("config/loader.py",),
    "NoneTrainer": ("training/settings.py", "evaluation/evaluate.py"),
    "FinetuneTrainer": ("training/settings.py", "training/runner.py"),
    "SchedulerConfig": ("training/schedulers.py",),
    "GradientClipping": ("training/settings.py",),
    "Postprocessor": ("persistence/merge.py", "persistence/save.py"),
    # ``active`` is read through the schema's ``active_name`` property.
    "MultiAdapterConfig": ("models/adapters.py", "config/schema/adapters/__init__.py"),
    "AdapterMerge": ("models/adapters.py",),
    "ModelParameters": ("models/parameters.py", "models/loader.py"),
    "RopeScaling": ("models/parameters.py",),
    "BackendConfig": ("distributed/strategy.py",),
    "RayTrainerConfig": ("distributed/strategy.py",),
    "StrategyConfig": ("distributed/strategy.py",),
}

# The preference trainers inherit every fine-tune key, with the same fate; their own keys are read
# where the run builds TRL's config and datasets.
_PREFERENCE_CLASSES = ("DPOTrainerConfig", "KTOTrainerConfig", "ORPOTrainerConfig")
for _registry in (WITHOUT_EFFECT, REFUSED, DERIVED):
    for _key, _why in [(k, v) for k, v in _registry.items() if k.startswith("FinetuneTrainer.")]:
        for _cls in _PREFERENCE_CLASSES:
            _registry[_cls + _key[len("FinetuneTrainer"):]] = _why
for _cls in _PREFERENCE_CLASSES:
    READ_BY[_cls] = READ_BY["FinetuneTrainer"] + ("data/preference.py", "evaluation/evaluate.py")

#: Fields read by llm_magic for every adapter kind (the rest of an adapter goes to PEFT).
ADAPTER_COMMON = {"pretrained_adapter_weights": ("models/adapters.py",),
                  "postprocessor": ("persistence/merge.py",),
                  "loraplus_lr_ratio": ("training/job.py",)}  # plan_job reads it into the FinetuneJob


def schema_classes(root: type[BaseModel]) -> list[type]:
    """Every config model class reachable from ``root`` (``LLMConfig``), in a stable order."""
    return list(schema_paths(root))


def schema_paths(root: type[BaseModel]) -> dict[type, str]:
    """Every config model class reachable from ``root`` (``LLMConfig``) -> the key path where it
    first occurs."""
    seen: dict[type, str] = {}

    def models_in(annotation: Any) -> Iterator[type]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield annotation
            return
        for arg in typing.get_args(annotation):
            yield from models_in(arg)

    def visit(cls: type, path: str) -> None:
        if cls in seen:
            return
        seen[cls] = path
        for name, field in cls.model_fields.items():
            # Show list items as key[] and dict values as key.<name> (a str() check: the
            # annotations nest Optional/Annotated/Union around the container).
            container = str(field.annotation).split("[")[0]
            sub_path = (f"{path}.{name}" if path else name) + (
                "[]" if container.endswith("list") else ".<name>" if "dict" in container else "")
            for sub in models_in(field.annotation):
                visit(sub, sub_path)

    visit(root, "")
    return seen


def without_effect_markdown(root: type[BaseModel]) -> str:
    """The "Keys accepted without effect" table of docs/ludwig-compatibility.md for the schema under
    ``root`` (``LLMConfig``; kept in step by a test)."""
    paths = schema_paths(root)
    rows = ["| key | in | why it has no effect |", "|---|---|---|"]
    for cls, path in paths.items():
        if cls.__name__ in _PREFERENCE_CLASSES:
            continue  # the FinetuneTrainer rows hold for them too (the table's note says so)
        for name in cls.model_fields:
            reason = WITHOUT_EFFECT.get(f"{cls.__name__}.{name}")
            if reason is not None:
                key = f"{path}.{name}" if path else name
                rows.append(f"| `{key}` | {cls.__name__} | {reason.replace('|', '/')} |")
    return "\n".join(rows)


def without_effect(config: BaseModel) -> list[tuple[str, Any, str]]:
    """``(path, value, reason)`` for every key the user set to a non-default value that has no effect.

    ``path`` is the key as written in the config (``input_features[0].preprocessing.most_common``).
    """
    out: list[tuple[str, Any, str]] = []

    def walk(model: BaseModel, prefix: str) -> None:
        cls = type(model)
        for name, field in cls.model_fields.items():
            value = model.__dict__.get(name)  # not getattr: this walk reads every key, uses none
            path = f"{prefix}.{name}" if prefix else name
            reason = WITHOUT_EFFECT.get(f"{cls.__name__}.{name}")
            if reason is not None:
                if name in model.model_fields_set and value != field.get_default(call_default_factory=True):
                    out.append((path, _plain(value), reason))
                continue
            if isinstance(value, BaseModel):
                walk(value, path)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, BaseModel):
                        walk(item, f"{path}[{index}]")
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, BaseModel):
                        walk(item, f"{path}.{key}")

    walk(config, "")
    return out


def _plain(value: Any) -> Any:
    return to_jsonable_python(value)
