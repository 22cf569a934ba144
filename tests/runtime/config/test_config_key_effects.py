"""No config key is accepted and silently ignored: every schema field has a checked fate.

How the guard can fail: ``test_every_schema_field_has_a_checked_fate`` walks every field of every
schema class reachable from ``LLMConfig`` (all adapter kinds, split types, features, trainer,
backend, ...). A field that allows more than one value must be

- read by name (attribute, ``getattr``/``.get`` string or dict key) in one of the runtime modules
  that ``effects.READ_BY`` lists for its class — checked on those modules' syntax trees, so a new
  key that no listed module mentions fails;
- or passed through to a library class whose installed signature has that parameter
  (``test_passed_through_*``);
- or derived (a differing user value is reported as rewritten), refused (an error naming the
  key) or accepted without effect (reported in ``config.without_effect()`` and the
  ``%%llm_config`` display, listed in docs/ludwig-compatibility.md).

Adding a key to the schema without deciding which of these it is fails the first test.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import typing
from pathlib import Path

import pytest

from llm_magic.errors import ConfigError
from llm_magic.runtime.config import LLMConfig, load_config
from llm_magic.runtime.config import effects
from llm_magic.runtime.config.schema.adapters import ADAPTER_TYPES

RUNTIME = Path(effects.__file__).resolve().parents[1]
DOCS = Path(__file__).resolve().parents[3] / "docs" / "ludwig-compatibility.md"


def base(**extra):
    cfg = {"base_model": "llm-magic/tiny", "input_features": [{"name": "q", "type": "text"}],
           "output_features": [{"name": "a", "type": "text"}]}
    cfg.update(extra)
    return cfg


@functools.lru_cache(maxsize=None)
def _names_in(module: str) -> frozenset[str]:
    """Attribute names and string constants a runtime module uses."""
    tree = ast.parse((RUNTIME / module).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return frozenset(names)


def _single_valued(field) -> bool:
    """A Literal with one value (``type: Literal["lora"]``), or a block of only such fields, carries no choice."""
    annotation = field.annotation
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return all(_single_valued(f) for f in annotation.model_fields.values())
    return typing.get_origin(annotation) is typing.Literal and len(typing.get_args(annotation)) == 1


def test_every_schema_field_has_a_checked_fate():
    classes = effects.schema_classes(LLMConfig)
    assert len(classes) > 50  # the walk reaches every adapter kind, split type, trainer block, ...
    problems = []
    for cls in classes:
        for name, field in cls.model_fields.items():
            key = f"{cls.__name__}.{name}"
            fates = [registry for registry in ("WITHOUT_EFFECT", "REFUSED", "DERIVED")
                     if key in getattr(effects, registry)]
            if not fates and cls.__name__ in effects.PASSED_THROUGH and name not in effects.ADAPTER_COMMON:
                fates.append("PASSED_THROUGH")  # the explicit registries above override it
            if len(fates) > 1:
                problems.append(f"{key}: in several registries {fates}")
            if fates or _single_valued(field):
                continue
            modules = effects.ADAPTER_COMMON.get(name) if cls in ADAPTER_TYPES.values() else None
            modules = modules or effects.READ_BY.get(cls.__name__)
            if not modules:
                problems.append(f"{key}: no registry says what it does")
            elif not any(name in _names_in(m) for m in modules):
                problems.append(f"{key}: listed as read by {modules}, but none of them mentions `{name}`")
    assert not problems, "\n".join(problems)


def test_registries_name_real_fields():
    fields = {f"{c.__name__}.{n}" for c in effects.schema_classes(LLMConfig) for n in c.model_fields}
    for registry in (effects.WITHOUT_EFFECT, effects.REFUSED, effects.DERIVED):
        assert set(registry) <= fields, set(registry) - fields
    names = {c.__name__ for c in effects.schema_classes(LLMConfig)}
    assert set(effects.PASSED_THROUGH) <= names and set(effects.READ_BY) <= names


# ------------------------------------------------------------------------------ passed through
def test_passed_through_generation_keys_are_transformers_generation_settings():
    from transformers import GenerationConfig

    from llm_magic.runtime.config.schema.generation import GenerationConfig as Ours

    hf = GenerationConfig()
    missing = [n for n in Ours.model_fields if f"GenerationConfig.{n}" not in effects.REFUSED
               and not hasattr(hf, n)]
    assert not missing


def test_passed_through_adapter_keys_are_peft_parameters():
    import peft

    for kind, cls in ADAPTER_TYPES.items():
        peft_fields = {f.name for f in dataclasses.fields(getattr(peft, cls.peft_class))}
        block = load_config(base(adapter={"type": kind}, trainer={"type": "finetune"})).adapter
        sent = set(block.peft_kwargs(None))
        assert sent <= peft_fields, (kind, sent - peft_fields)
        # Every field reaches PEFT unless llm_magic reads it itself or refuses a non-default value.
        kept = {"type", *effects.ADAPTER_COMMON}
        refused = {n for n in cls.model_fields if f"{cls.__name__}.{n}" in effects.REFUSED}
        unsent = {cls.peft_renames.get(n, n) for n in cls.model_fields} - sent - kept - refused
        assert not {n for n in unsent if n != "tokenizer_name_or_path"}, (kind, unsent)
    eva = {f.name for f in dataclasses.fields(peft.EvaConfig)}
    assert set(ADAPTER_TYPES["lora"].model_fields["eva_config"].annotation.__args__[0].model_fields) <= eva


def test_passed_through_quantization_and_optimizer_keys_exist():
    import importlib

    from transformers import BitsAndBytesConfig

    from llm_magic.runtime.config.schema.quantization import QuantizationConfig
    from llm_magic.runtime.config.schema.trainer import OptimizerConfig
    from llm_magic.runtime.training.optimizers import OPTIMIZERS

    bnb = inspect.signature(BitsAndBytesConfig.__init__).parameters
    assert set(QuantizationConfig().to_bnb_kwargs()) <= set(bnb)
    read = set(QuantizationConfig().to_bnb_kwargs()) | {"bits"}
    rest = set(QuantizationConfig.model_fields) - read - {"bits"}
    assert all(f"QuantizationConfig.{n}" in effects.REFUSED for n in rest), rest
    accepted = set()
    for target in OPTIMIZERS.values():
        module, name = target.split(":")
        try:
            accepted |= set(inspect.signature(getattr(importlib.import_module(module), name).__init__).parameters)
        except ImportError:  # schedulefree is optional
            continue
    passed = {n for n in OptimizerConfig.model_fields if f"OptimizerConfig.{n}" not in effects.WITHOUT_EFFECT}
    assert passed - {"type"} <= accepted


# ------------------------------------------------------------------------------ without effect
def test_keys_without_effect_are_reported_and_effective_keys_are_not():
    config = load_config(base(
        input_features=[{"name": "q", "type": "text", "preprocessing": {"most_common": 5, "lowercase": True}}],
        output_features=[{"name": "a", "type": "text", "loss": {"robust_lambda": 0.1}}],
        trainer={"type": "finetune", "model_soup": "uniform", "learning_rate_scheduler": {"reduce_on_plateau": 2}},
        backend={"cache_dir": "/tmp/x"}))
    reported = {path: value for path, value, _ in config.without_effect()}
    assert reported == {"input_features[0].preprocessing.most_common": 5,
                        "output_features[0].loss.robust_lambda": 0.1,
                        "trainer.model_soup": "uniform",
                        "trainer.learning_rate_scheduler.reduce_on_plateau": 2,
                        "backend.cache_dir": "/tmp/x"}
    assert load_config(base()).without_effect() == []
    # A default value written out (as a saved config does) is not reported.
    assert load_config(base(trainer={"type": "finetune", "model_soup": None})).without_effect() == []


def test_trainer_none_reports_training_keys():
    config = load_config(base(trainer={"type": "none", "learning_rate": 0.01, "eval_batch_size": 4}))
    assert [p for p, _, _ in config.without_effect()] == ["trainer.learning_rate"]


def test_config_cell_shows_keys_without_effect(ip, capsys):
    ip.cell("llm_config", "", "base_model: llm-magic/tiny\n"
            "input_features: [{name: q, type: text, preprocessing: {ngram_size: 3}}]\n"
            "output_features: [{name: a, type: text}]\n")
    out = capsys.readouterr().out
    assert "Accepted without effect" in out and "input_features[0].preprocessing.ngram_size: 3" in out


def test_docs_list_every_key_without_effect():
    text = DOCS.read_text()
    assert "## Keys accepted without effect" in text
    assert effects.without_effect_markdown(LLMConfig) in text, (
        "docs/ludwig-compatibility.md is out of date: paste effects.without_effect_markdown(LLMConfig) under "
        "'## Keys accepted without effect'")


# ------------------------------------------------------------------------------ refused
@pytest.mark.parametrize("generation, key", [
    ({"penalty_alpha": 0.6, "do_sample": True}, "penalty_alpha"),
    ({"num_beam_groups": 2, "num_beams": 2}, "num_beam_groups"),
    ({"diversity_penalty": 0.5}, "diversity_penalty"),
    ({"force_words_ids": [[5]]}, "force_words_ids"),
    ({"forced_decoder_ids": [[1, 5]]}, "forced_decoder_ids"),
])
def test_decoding_modes_gone_from_transformers_are_refused(generation, key):
    with pytest.raises(ConfigError) as err:
        load_config(base(generation=generation))
    assert [e.path for e in err.value.errors] == [f"generation.{key}"]
    assert load_config(base(generation={key: load_config(base()).generation.model_dump()[key]}))


def test_decoding_modes_gone_from_transformers_are_refused_as_overrides():
    from llm_magic.errors import LlmMagicError
    from llm_magic.runtime.generation.settings import merge_settings

    with pytest.raises(LlmMagicError, match="--penalty_alpha.*contrastive search"):
        merge_settings(load_config(base()).generation, {"penalty_alpha": 0.5}, lambda k: f"--{k}")


@pytest.mark.parametrize("field, value", [("use_rslora", True), ("use_dora", True),
                                          ("init_lora_weights", "pissa"), ("alpha_pattern", {"q": 4})])
def test_adalora_refuses_lora_settings_peft_drops(field, value):
    with pytest.raises(ConfigError) as err:
        load_config(base(adapter={"type": "adalora", field: value}, trainer={"type": "finetune"}))
    assert [e.path for e in err.value.errors] == [f"adapter.{field}"]


def test_classifier_decoder_is_refused():
    cfg = base(output_features=[{"name": "a", "type": "category", "decoder": {"type": "classifier"},
                                 "preprocessing": {"vocab": ["x", "y"], "fallback_label": "x"}}])
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert [e.path for e in err.value.errors] == ["output_features[0].decoder.type"]


def test_loraplus_in_the_multi_adapter_form_is_refused():
    with pytest.raises(ConfigError) as err:
        load_config(base(adapters={"adapters": {"a": {"type": "lora", "loraplus_lr_ratio": 8}}},
                         trainer={"type": "finetune"}))
    assert [e.path for e in err.value.errors] == ["adapters.adapters.a.loraplus_lr_ratio"]


@pytest.mark.parametrize("optimizer, key, takes", [
    ({"type": "adam", "momentum": 0.9}, "momentum", "amsgrad, betas, eps, weight_decay"),
    ({"type": "sgd", "betas": [0.8, 0.99]}, "betas", "dampening, momentum, nesterov, weight_decay"),
    ({"type": "adam_8bit", "amsgrad": True}, "amsgrad", "betas, eps, min_8bit_size, weight_decay"),
    ({"type": "adafactor", "eps": 0.001}, "eps", "weight_decay"),
])
def test_optimizer_fields_the_type_does_not_take_are_refused(optimizer, key, takes):
    with pytest.raises(ConfigError) as err:
        load_config(base(trainer={"type": "finetune", "optimizer": optimizer}))
    [item] = err.value.errors
    assert item.path == f"trainer.optimizer.{key}"
    assert repr(optimizer["type"]) in item.message and item.message.endswith(f"takes: {takes}.")


def test_optimizer_defaults_and_fitting_fields_pass():
    from llm_magic.runtime.training.optimizers import OPTIMIZER_FIELDS

    # Every type with the block's shared defaults written out (as a saved config has them).
    defaults = {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "momentum": 0.9}
    for kind in OPTIMIZER_FIELDS:
        block = {"type": kind, **defaults}
        if "momentum" not in OPTIMIZER_FIELDS[kind]:
            block.pop("momentum")
        assert load_config(base(trainer={"type": "finetune", "optimizer": block})).trainer.optimizer.type == kind
    config = load_config(base(trainer={"type": "finetune", "optimizer": {
        "type": "rmsprop", "momentum": 0.5, "alpha": 0.9, "centered": True, "weight_decay": 0.01}}))
    assert config.trainer.optimizer.centered is True


def test_momentum_free_bitsandbytes_types_are_refused():
    with pytest.raises(ConfigError) as err:
        load_config(base(trainer={"type": "finetune", "optimizer": {"type": "lars"}}))
    assert [e.path for e in err.value.errors] == ["trainer.optimizer.momentum"]
    assert load_config(base(trainer={"type": "finetune", "optimizer": {"type": "lars", "momentum": 0.9}}))


# ------------------------------------------------------------------------------ now applied
def test_default_validation_metric_selects_the_watched_metric():
    from llm_magic.runtime.training.settings import settings_from_config

    out = [{"name": "a", "type": "text", "default_validation_metric": "token_accuracy"}]
    config = load_config(base(output_features=out, trainer={"type": "finetune"}))
    settings = settings_from_config(config.trainer)
    assert settings.validation_metric == "token_accuracy" and settings.greater_is_better
    assert ("trainer.validation_metric", "token_accuracy", "output feature's default_validation_metric") \
        in config.derived
    # An explicit trainer.validation_metric wins, as in Ludwig.
    explicit = load_config(base(output_features=out, trainer={"type": "finetune", "validation_metric": "loss"}))
    assert settings_from_config(explicit.trainer).validation_metric == "loss"
    with pytest.raises(ConfigError, match="default_validation_metric"):
        load_config(base(output_features=[{**out[0], "default_validation_metric": "bleu"}],
                         trainer={"type": "finetune"}))


def test_copied_decoder_keys_report_the_rewrite():
    config = load_config(base(output_features=[{"name": "a", "type": "text", "decoder": {"max_new_tokens": 99}}],
                              generation={"max_new_tokens": 12}))
    assert config.output_feature.decoder.max_new_tokens == 12
    assert any(p == "output_features[0].decoder.max_new_tokens" and v == 12 for p, v, _ in config.derived)
