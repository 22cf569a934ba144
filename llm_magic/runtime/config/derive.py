"""Values llm_magic (like Ludwig) fills in or rewrites after validation, each recorded with a reason.

The display of ``%%llm_config`` lists them so nothing changes behind the user's back. Values are
written without marking the field as user-set, so ``diff_from_defaults`` still shows only what
the user wrote.
"""
from __future__ import annotations

from typing import Any

from llm_magic.runtime.config.presets import resolve_preset
from llm_magic.runtime.config.schema.features import MatchRule, sanitise_name
from llm_magic.runtime.config.schema.generation import DEFAULT_MAX_NEW_TOKENS
from llm_magic.runtime.config.schema.root import LLMConfig
from llm_magic.runtime.config.schema.trainer import PREFERENCE_TRAINERS, TRAINING_TRAINERS
from llm_magic.runtime.embedded import is_embedded_model
from llm_magic.runtime.embedded.recipe import recipe_for, recipe_reason

Derived = list[tuple[str, Any, str]]


def _set(obj: Any, field: str, value: Any) -> None:
    # Bypass __setattr__ so the field is not added to model_fields_set (it stays "not user-set").
    obj.__dict__[field] = value


def derive(cfg: LLMConfig, raw: dict[str, Any]) -> Derived:
    """Fill derived values into ``cfg`` in place and return ``(path, value, reason)`` for each."""
    out: Derived = []
    _base_model(cfg, out)
    _feature_names(cfg, raw, out)
    _forced_tokenizer(cfg, out)
    _retrieval(cfg, out)
    _adapters(cfg, out)
    _category(cfg, out)
    _max_new_tokens(cfg, out)
    _trainer(cfg, raw, out)
    _rope_alias(raw, out)
    return out


def _base_model(cfg: LLMConfig, out: Derived) -> None:
    full = resolve_preset(cfg.base_model)
    if full:
        out.append(("base_model", full, f"Ludwig preset `{cfg.base_model}`"))
        _set(cfg, "base_model", full)


def _feature_names(cfg: LLMConfig, raw: dict[str, Any], out: Derived) -> None:
    for side in ("input_features", "output_features"):
        for index, item in enumerate(raw.get(side) or []):
            if not isinstance(item, dict):
                continue
            for key in ("name", "column"):
                value = item.get(key)
                if isinstance(value, str) and sanitise_name(value) != value:
                    out.append((f"{side}[{index}].{key}", sanitise_name(value),
                                "characters ( ) { } . : \" ' [ ] become _ (dataset columns are renamed the "
                                "same way; use the new name in the template)"))


def _forced_tokenizer(cfg: LLMConfig, out: Derived) -> None:
    """LLM features always use the base model's tokenizer with left padding (Ludwig forces it)."""
    blocks = [(f"input_features[{i}].preprocessing", f.preprocessing) for i, f in enumerate(cfg.input_features)]
    for i, f in enumerate(cfg.output_features):
        blocks.append((f"output_features[{i}].decoder", f.decoder))
        blocks.append((f"output_features[{i}].preprocessing", f.preprocessing))
    for path, block in blocks:
        fields = type(block).model_fields
        if "padding" in fields and block.padding != "left":
            out.append((f"{path}.padding", "left", "LLM inputs are always left-padded"))
            _set(block, "padding", "left")
        if "pretrained_model_name_or_path" in fields:
            if block.pretrained_model_name_or_path not in (None, cfg.base_model):
                out.append((f"{path}.pretrained_model_name_or_path", cfg.base_model,
                            "the tokenizer is always the base model's"))
            _set(block, "pretrained_model_name_or_path", cfg.base_model)


def _retrieval(cfg: LLMConfig, out: Derived) -> None:
    r = cfg.prompt.retrieval
    if r.type is not None and r.k == 0:
        out.append(("prompt.retrieval.k", 1, "retrieval type set with k 0 (Ludwig sets k to 1)"))
        _set(r, "k", 1)


def _adapters(cfg: LLMConfig, out: Derived) -> None:
    blocks = [("adapter", cfg.adapter)] if cfg.adapter is not None else []
    if cfg.adapters is not None:
        blocks += [(f"adapters.adapters.{n}", a) for n, a in cfg.adapters.adapters.items()]
    for path, a in blocks:
        if a.type in ("lora", "adalora") and a.alpha is None:
            out.append((f"{path}.alpha", 2 * a.r, "alpha unset: 2 * r"))
            _set(a, "alpha", 2 * a.r)
        # target_modules stays unset here on purpose: Ludwig's hard-coded per-id lists (q/v only for
        # Mixtral and Gemma, a stale list for Phi: Ludwig issues 3853, 3910) are replaced by discovery
        # of the attention and MLP projections of the loaded model (runtime.models.targets).
        if a.type == "prompt_tuning" and a.tokenizer_name_or_path is None:
            _set(a, "tokenizer_name_or_path", cfg.base_model)


def _category(cfg: LLMConfig, out: Derived) -> None:
    for i, f in enumerate(cfg.output_features):
        if f.type != "category":
            continue
        prep, dec = f.preprocessing, f.decoder
        base = f"output_features[{i}]"
        if prep.lowercase:
            _lowercase_labels(f, base, out)
        if prep.vocab is not None and prep.fallback_label is not None and prep.fallback_label not in prep.vocab:
            vocab = [*prep.vocab, prep.fallback_label]
            out.append((f"{base}.preprocessing.vocab", vocab, "fallback_label appended to the labels"))
            _set(prep, "vocab", vocab)
        if dec.type != "category_extractor":
            continue
        if dec.fallback_label != prep.fallback_label:
            if "fallback_label" in dec.model_fields_set:
                out.append((f"{base}.decoder.fallback_label", prep.fallback_label,
                            "a copy of preprocessing.fallback_label (set it there)"))
            _set(dec, "fallback_label", prep.fallback_label)
        if dec.match is None and prep.vocab is not None:
            match = {label: MatchRule(type="contains", value=label.lower()) for label in prep.vocab}
            out.append((f"{base}.decoder.match", {k: v.model_dump() for k, v in match.items()},
                        "no match rules given: each label matches when the lower-cased output contains it"))
            _set(dec, "match", match)


def _lowercase_labels(feature: Any, base: str, out: Derived) -> None:
    """``lowercase: true`` on a category output lower-cases the data's labels, so the config's too.

    Otherwise a predicted label `Positive` would never equal the lower-cased target `positive` in
    evaluation. Matching itself is case-insensitive either way (``generation/labels.py``).
    """
    prep, dec = feature.preprocessing, feature.decoder
    why = "lowercase: true lower-cases the labels (the target column is lower-cased too)"
    if prep.vocab is not None and any(v != v.lower() for v in prep.vocab):
        vocab = list(dict.fromkeys(v.lower() for v in prep.vocab))
        out.append((f"{base}.preprocessing.vocab", vocab, why))
        _set(prep, "vocab", vocab)
    if prep.fallback_label is not None and prep.fallback_label != prep.fallback_label.lower():
        out.append((f"{base}.preprocessing.fallback_label", prep.fallback_label.lower(), why))
        _set(prep, "fallback_label", prep.fallback_label.lower())
    match = getattr(dec, "match", None)
    if match and any(label != label.lower() for label in match):
        lowered = {label.lower(): rule for label, rule in match.items()}
        out.append((f"{base}.decoder.match", {k: v.model_dump() for k, v in lowered.items()}, why))
        _set(dec, "match", lowered)


def _max_new_tokens(cfg: LLMConfig, out: Derived) -> None:
    """Ludwig's derivation, but only for an unset value and without a Hub lookup."""
    gen = cfg.generation
    feature = cfg.output_features[0]
    if "max_new_tokens" not in gen.model_fields_set and feature.type == "text":
        out_len = feature.preprocessing.max_sequence_length
        global_len = cfg.preprocessing.global_max_sequence_length
        if out_len is not None:
            value, why = max(DEFAULT_MAX_NEW_TOKENS, out_len), "max(32, output max_sequence_length)"
        elif global_len is not None:
            value, why = max(DEFAULT_MAX_NEW_TOKENS, global_len), "max(32, global_max_sequence_length)"
        else:
            value, why = None, ""
        if value is not None and value != gen.max_new_tokens:
            out.append(("generation.max_new_tokens", value, why))
            _set(gen, "max_new_tokens", value)
    if feature.type == "text" and "max_new_tokens" in type(feature.decoder).model_fields:
        decoder = feature.decoder
        if "max_new_tokens" in decoder.model_fields_set and decoder.max_new_tokens != gen.max_new_tokens:
            out.append(("output_features[0].decoder.max_new_tokens", gen.max_new_tokens,
                        "a copy of generation.max_new_tokens, as in Ludwig (set generation.max_new_tokens)"))
        _set(feature.decoder, "max_new_tokens", gen.max_new_tokens)


def _trainer(cfg: LLMConfig, raw: dict[str, Any], out: Derived) -> None:
    t = cfg.trainer
    raw_trainer = raw.get("trainer")
    if t.type == "none" and isinstance(raw_trainer, dict) and "type" not in raw_trainer and raw_trainer:
        out.append(("trainer.type", "none",
                    "no type given: the trainer is `none` (inference only, as in Ludwig); add "
                    "`type: finetune` to train"))
    if t.type in TRAINING_TRAINERS:
        feature = cfg.output_features[0]
        default = type(feature).model_fields["default_validation_metric"].default
        if (t.validation_metric is None and feature.default_validation_metric != default
                and t.type not in PREFERENCE_TRAINERS):  # a preference run has its own loss only
            # Ludwig watches the output feature's default metric when trainer.validation_metric is null.
            out.append(("trainer.validation_metric", feature.default_validation_metric,
                        "output feature's default_validation_metric"))
            _set(t, "validation_metric", feature.default_validation_metric)
        if is_embedded_model(cfg.base_model):
            _embedded_recipe(t, out)
        if t.type == "kto" and "batch_size" not in t.model_fields_set and t.batch_size == 1:
            out.append(("trainer.batch_size", 2, "kto needs at least 2 rows per step (its KL estimate pairs "
                                                 "rows of a batch); Ludwig's default is 1"))
            _set(t, "batch_size", 2)
        if "learning_rate" not in t.model_fields_set and not is_embedded_model(cfg.base_model):
            out.append(("trainer.learning_rate", t.learning_rate, "llm_magic default (Ludwig's is 0.001)"))
        if ("epochs" not in t.model_fields_set and "train_steps" not in t.model_fields_set
                and not any(path == "trainer.epochs" for path, _, _ in out)):  # the recipe's
            out.append(("trainer.epochs", t.epochs, "llm_magic default (Ludwig's is 100)"))


def _embedded_recipe(trainer: Any, out: Derived) -> None:
    """Fill in the embedded model's fine-tuning recipe where the user left a key unset."""
    for key, value in recipe_for(trainer.type, PREFERENCE_TRAINERS):
        *parents, leaf = key.split(".")
        obj = trainer
        for name in parents:
            obj = getattr(obj, name)
        # A nested block the user did not write is a fresh default, so its fields_set is empty.
        if leaf in obj.model_fields_set:
            continue
        if leaf == "epochs" and "train_steps" in trainer.model_fields_set:
            continue  # a step count the user gave is the run's length
        out.append((f"trainer.{key}", value, recipe_reason(key)))
        _set(obj, leaf, value)


def _rope_alias(raw: dict[str, Any], out: Derived) -> None:
    mp = raw.get("model_parameters")
    rope = mp.get("rope_scaling") if isinstance(mp, dict) else None
    if isinstance(rope, dict) and "type" in rope and "rope_type" not in rope:
        out.append(("model_parameters.rope_scaling.rope_type", rope["type"], "old spelling `type:` accepted"))
