"""``LLMConfig``: the whole config tree, one field per Ludwig top-level key, plus conveniences.

Build it with :func:`llm_magic.runtime.config.load_config`, which also checks the cross-field
rules, records derived values and remembers YAML line numbers.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, NonNegativeInt, PrivateAttr

from llm_magic.runtime.config.effects import without_effect
from llm_magic.runtime.config.schema.adapters import Adapter, MultiAdapterConfig
from llm_magic.runtime.config.schema.backend import Backend, BackendConfig
from llm_magic.runtime.config.schema.base import F, ConfigModel, fields_set
from llm_magic.runtime.config.schema.features import InputFeature, OutputFeature
from llm_magic.runtime.config.schema.generation import GenerationConfig
from llm_magic.runtime.config.schema.model_parameters import ModelParameters
from llm_magic.runtime.config.schema.preprocessing import PreprocessingConfig
from llm_magic.runtime.config.schema.prompt import PromptConfig
from llm_magic.runtime.config.schema.quantization import QuantizationConfig
from llm_magic.runtime.config.schema.trainer import TRAINING_TRAINERS, NoneTrainer, Trainer


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class TypeDefaults(ConfigModel):
    """Blocks merged into every feature of one type (``defaults: {text: {...}}``)."""

    preprocessing: dict[str, Any] | None = F(None, "Merged into each text feature's preprocessing.")
    encoder: dict[str, Any] | None = F(None, "Merged into each text input's encoder.")
    decoder: dict[str, Any] | None = F(None, "Merged into each text output's decoder.")
    loss: dict[str, Any] | None = F(None, "Merged into each text output's loss.")


class DefaultsConfig(ConfigModel):
    """Per-type defaults; only ``text`` exists for LLMs."""

    text: TypeDefaults | None = F(None, "Defaults for text features.")


class LLMConfig(ConfigModel):
    """A validated Ludwig ``model_type: llm`` config (plus llm_magic extensions)."""

    model_type: Annotated[Literal["llm"], BeforeValidator(_lower)] = F(
        "llm", "Must be `llm`.", diverges="Ludwig requires it (absent = ecd); we default to llm.")
    base_model: str = F(..., "Preset short name (e.g. llama-2-7b), Hub id, local directory, or llm-magic/tiny.")
    input_features: list[InputFeature] = F(..., "Exactly one text input feature.")
    output_features: list[OutputFeature] = F(..., "Exactly one output feature: text, or category (trainer none).")
    prompt: PromptConfig = F(default_factory=PromptConfig, help="Prompt template, task and retrieval.")
    preprocessing: PreprocessingConfig = F(default_factory=PreprocessingConfig, help="Split, sampling, lengths.")
    defaults: DefaultsConfig | None = F(None, "Per-type defaults merged into the features.")
    trainer: Trainer = F(default_factory=NoneTrainer, help="`none` (default, no training) or `finetune`.")
    generation: GenerationConfig = F(default_factory=GenerationConfig, help="Decoding settings.")
    adapter: Adapter | None = F(None, "One PEFT adapter; null = full fine-tuning. A bare string = defaults.")
    adapters: MultiAdapterConfig | None = F(None, "Several named adapters (exclusive with `adapter`).")
    quantization: QuantizationConfig | None = F(None, "Quantisation of the base model.")
    model_parameters: ModelParameters | None = F(None, "RoPE scaling and NEFTune.")
    trust_remote_code: bool = F(
        False, "Run model code from the Hub.",
        diverges="llm_magic never runs code from the Hub: `true` is rejected.")
    is_multimodal: bool = F(False, "Load with the vision-to-sequence auto class.")
    backend: Backend = F(default_factory=BackendConfig, help="Where work runs; a bare string = {type: ...}.")
    hyperopt: dict[str, Any] | None = F(
        None, "Ludwig hyperparameter search.", diverges="Not supported: a non-null value is rejected.")
    # The bound sits in the type: top-level keys are validated by their annotation alone first.
    random_seed: NonNegativeInt = F(
        42, "Seed of the adapter's initial weights, the split, shuffling and dropout.",
        diverges="Ludwig takes it as `LudwigModel.train(random_seed=42)` / `--random_seed`; here it is "
                 "also a config key (`%llm_train --seed N` overrides it).")
    ludwig_version: str | None = F(None, "Informational; ignored.")
    preset: str | None = F(None, "Ludwig ECD quality preset; ignored for LLMs.")

    # Set by the loader: derived values, the original text and the YAML line map.
    _derived: list[tuple[str, Any, str]] = PrivateAttr(default_factory=list)
    _source: Any = PrivateAttr(default=None)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    # ------------------------------------------------------------------ conveniences
    @property
    def input_feature(self) -> InputFeature:
        """The single input feature."""
        return self.input_features[0]

    @property
    def output_feature(self) -> OutputFeature:
        """The single output feature (``TextOutputFeature`` or ``CategoryOutputFeature``)."""
        return self.output_features[0]

    @property
    def derived(self) -> list[tuple[str, Any, str]]:
        """Values we filled in or rewrote: ``(path, value, reason)``."""
        return list(self._derived)

    @property
    def source(self) -> str | dict[str, Any] | None:
        """The original YAML text (or dict) this config was loaded from."""
        return self._source

    def without_effect(self) -> list[tuple[str, Any, str]]:
        """Keys set to a non-default value that llm_magic accepts but that change nothing:
        ``(path, value, reason)`` (the registry is ``runtime/config/effects.py``)."""
        return without_effect(self)

    def line_of(self, path: str) -> int | None:
        """The 1-based YAML line of a key path such as ``adapter.r``; None when unknown."""
        return self._lines.get(path)

    def to_dict(self) -> dict[str, Any]:
        """The effective config: every default filled in. Loads back to an equal config."""
        return self.model_dump(mode="json")

    def diff_from_defaults(self) -> dict[str, Any]:
        """What the user set that differs from the defaults (nested dict, effective values).

        Blocks keep their ``type`` so the result reads like a config (``adapter: {type: lora, r: 16}``).
        """
        return fields_set(self, defaults=False, keep_type=True)

    @property
    def is_finetune(self) -> bool:
        """True when the trainer updates weights."""
        return self.trainer.type in TRAINING_TRAINERS

