"""``load_config``: YAML text or a dict in, a validated :class:`LLMConfig` out (or every problem).

Steps: parse YAML (keeping line numbers) -> merge ``defaults:`` into the features -> validate
each top-level section on its own (so one broken block does not hide problems elsewhere) ->
cross-field rules -> build the model -> record derived values.
"""
from __future__ import annotations

import copy
import difflib
import functools
import typing
from typing import Any

from pydantic import TypeAdapter, ValidationError

from llm_magic.errors import ConfigError, ConfigErrorItem
from llm_magic.runtime.config.derive import derive
from llm_magic.runtime.config.rules import check_rules
from llm_magic.runtime.config.schema.features import TextInputPreprocessing, TextOutputPreprocessing
from llm_magic.runtime.config.schema.root import LLMConfig
from llm_magic.runtime.config.translate import KNOWN_ALIASES, line_for, translate
from llm_magic.runtime.config.yaml_lines import parse_yaml, with_alias_notes

_EXAMPLE = ("model_type: llm\nbase_model: llm-magic/tiny\ninput_features: [{name: question, type: text}]\n"
            "output_features: [{name: answer, type: text}]")


def load_config(source: Any) -> LLMConfig:
    """Validate a Ludwig LLM config given as YAML text or a dict.

    Raises :class:`~llm_magic.ConfigError` listing every problem at once, each with its key path,
    YAML line (None for dicts) and what to do. Never contacts the Hugging Face Hub.
    """
    if isinstance(source, LLMConfig):
        return source
    lines: dict[str, int] = {}
    if isinstance(source, str):
        data, lines, problems = parse_yaml(source)
        if data is None and not problems:
            problems = [ConfigErrorItem("", None, f"the config is empty; a minimal one is:\n{_EXAMPLE}")]
        if problems and data is None:
            raise ConfigError(problems)
    elif isinstance(source, dict):
        data, problems = copy.deepcopy(source), []
    else:
        raise ConfigError([ConfigErrorItem("", None, f"expected YAML text or a dict, got {type(source).__name__}.")])
    if not isinstance(data, dict):
        raise ConfigError([ConfigErrorItem("", 1, f"the config must be a mapping of keys (like\n{_EXAMPLE}), "
                                                  f"not {type(data).__name__}.")])

    problems += _merge_type_defaults(data, lines)
    sections, section_problems = _validate_sections(data, lines)
    problems += section_problems
    problems += check_rules(sections, data, lambda path: line_for(path, lines))
    if problems:
        problems = with_alias_notes(problems, lines)  # where an alias brought a key from
        raise ConfigError(sorted(problems, key=lambda p: (p.line is None, p.line or 0)))

    config = LLMConfig.model_validate(data)
    config._derived = derive(config, data)
    # A copy: the caller may keep changing its dict, and the source must still describe this config.
    config._source = copy.deepcopy(source) if isinstance(source, dict) else source
    config._lines = lines
    return config


@functools.lru_cache(maxsize=1)
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(LLMConfig, include_extras=True)


@functools.lru_cache(maxsize=None)
def _adapter_for(name: str) -> TypeAdapter:
    # The declared type keeps its Annotated metadata (discriminator, before-validators) in order;
    # FieldInfo.annotation alone would lose it.
    return TypeAdapter(_hints()[name])


def _validate_sections(data: dict[str, Any], lines: dict[str, int]) -> tuple[dict[str, Any], list[ConfigErrorItem]]:
    """Validate each top-level key alone; return the valid sections and the problems."""
    fields = LLMConfig.model_fields
    sections: dict[str, Any] = {}
    problems: list[ConfigErrorItem] = []
    for key in data:
        if key not in fields:
            problems.append(ConfigErrorItem(str(key), lines.get(str(key)), _unknown_top_level(str(key))))
    for name, info in fields.items():
        if name not in data:
            if info.is_required():
                problems.append(ConfigErrorItem(name, None, f"required key `{name}` is missing. {_REQUIRED[name]}"))
            else:
                sections[name] = info.get_default(call_default_factory=True)
            continue
        try:
            sections[name] = _adapter_for(name).validate_python(data[name])
        except ValidationError as exc:
            problems += translate(exc, name, data[name], _hints()[name], lines)
    return sections, problems


_REQUIRED = {
    "base_model": "Name the model to start from, e.g. `base_model: llm-magic/tiny` (our embedded model), a "
                  "Ludwig preset such as `llama-2-7b`, a Hub id or a local directory.",
    "input_features": "Add the text input, e.g. `input_features: [{name: question, type: text}]`.",
    "output_features": "Add the target, e.g. `output_features: [{name: answer, type: text}]`.",
}


def _unknown_top_level(key: str) -> str:
    alias = KNOWN_ALIASES.get(key)
    close = [alias] if alias in LLMConfig.model_fields else difflib.get_close_matches(key, list(LLMConfig.model_fields), n=1)
    hint = f" Did you mean `{close[0]}`?" if close else f" Valid top-level keys: {', '.join(LLMConfig.model_fields)}."
    return f"unknown top-level key `{key}`.{hint} (Ludwig would silently ignore it.)"


def _merge_type_defaults(data: dict[str, Any], lines: dict[str, int]) -> list[ConfigErrorItem]:
    """Merge ``defaults.text`` blocks into the text features (Ludwig's step 3); keys set on a feature win."""
    text = (data.get("defaults") or {}).get("text") if isinstance(data.get("defaults"), dict) else None
    if not isinstance(text, dict):
        return []
    problems = []
    prep = text.get("preprocessing")
    if isinstance(prep, dict):
        known = set(TextInputPreprocessing.model_fields) | set(TextOutputPreprocessing.model_fields)
        for key in prep:
            if key not in known:
                path = f"defaults.text.preprocessing.{key}"
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                problems.append(ConfigErrorItem(path, lines.get(path), f"unknown preprocessing key `{key}`.{hint}"))
    targets = [("input_features", TextInputPreprocessing, ("preprocessing", "encoder")),
               ("output_features", TextOutputPreprocessing, ("preprocessing", "decoder", "loss"))]
    for side, prep_model, blocks in targets:
        for feature in data.get(side) or []:
            if not isinstance(feature, dict) or str(feature.get("type", "")).lower() != "text":
                continue
            for block in blocks:
                defaults = text.get(block)
                if not isinstance(defaults, dict) or not isinstance(feature.get(block, {}), dict):
                    continue
                if block == "preprocessing":  # input and output preprocessing know different keys
                    defaults = {k: v for k, v in defaults.items() if k in prep_model.model_fields}
                if defaults:
                    feature[block] = {**defaults, **(feature.get(block) or {})}
    return problems
