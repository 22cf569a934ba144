"""``input_features`` and ``output_features``: the one text input and the one text/category output.

LLM configs have exactly one input feature (type ``text``) and one output feature (``text``, or
``category`` for zero-/few-shot classification). The counts and types are checked by the rules
module so that every problem is reported together with a message naming the feature.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, field_validator, model_validator

from llm_magic.runtime.config.schema.base import F, ConfigModel, lower_type, type_block

# Ludwig sanitises feature names and column names: each of these characters becomes "_".
_UNSAFE_CHARS = "(){}.:\"'[]"
_SANITISE = str.maketrans({c: "_" for c in _UNSAFE_CHARS})

MissingValueStrategy = Literal["fill_with_const", "fill_with_mode", "bfill", "ffill", "drop_row"]
MatchType = Literal["contains", "regex", "json_schema"]


def sanitise_name(name: str) -> str:
    """Ludwig's feature-name sanitising: ``( ) { } . : " ' [ ]`` each become ``_``."""
    return name.translate(_SANITISE)


def _sanitise_any(value: Any) -> Any:
    return sanitise_name(value) if isinstance(value, str) else value


#: A feature name or column, sanitised the way Ludwig does.
SafeName = Annotated[str, BeforeValidator(_sanitise_any)]


class PassthroughEncoder(ConfigModel):
    """The only encoder for LLM text inputs: the text goes to the model as tokens."""

    type: Literal["passthrough"] = F("passthrough", "Encoder type; LLM inputs only support `passthrough`.")


class TextInputPreprocessing(ConfigModel):
    """Preprocessing of the input text column (LLM variant)."""

    max_sequence_length: int | None = F(
        None, "Cap on input tokens (prompt included); null = the longest tokenized row.", gt=0)
    sequence_length: int | None = F(
        None, "Fixed prompt length: replaces max_sequence_length and keeps the prompt's first N tokens, "
              "as in Ludwig; null = not fixed.", gt=0,
        diverges="Ludwig also pads every row to N tokens; we pad per batch (dynamic padding), so only "
                 "the truncation applies.")
    lowercase: bool = F(
        False, "Lower-case the rendered prompt (template text, task, context and values) before "
               "tokenizing, as Ludwig does; in training and generation alike.")
    missing_value_strategy: MissingValueStrategy = F(
        "fill_with_const", "What to do with rows whose input is missing.")
    fill_value: str = F("<UNK>", "Value used by `fill_with_const`.")
    computed_fill_value: str | None = F("<UNK>", "Internal: the fill value actually used (Ludwig fills it).")
    most_common: int = F(20000, "Vocabulary size cap (unused by HF tokenizers).", gt=0)
    vocab_file: str | None = F(None, "Custom vocabulary file (unused by HF tokenizers).")
    padding_symbol: str = F("<PAD>", "Padding symbol (unused by HF tokenizers).")
    unknown_symbol: str = F("<UNK>", "Unknown symbol (unused by HF tokenizers).")
    ngram_size: int = F(2, "N-gram size (unused by HF tokenizers).", gt=0)
    cache_encoder_embeddings: bool = F(False, "Cache encoder embeddings (unused for LLMs).")
    tokenizer: Literal["hf_tokenizer"] = F(
        "hf_tokenizer", "Forced: LLMs always use the base model's Hugging Face tokenizer.")
    pretrained_model_name_or_path: str | None = F(
        None, "Forced to `base_model`; any value written here is ignored.")
    padding: Literal["left", "right"] = F("left", "Forced to `left` for decoder-only models.")


class InputFeature(ConfigModel):
    """The single text input feature: which column holds the input text."""

    name: SafeName = F(..., "Feature name; also the default dataset column. Characters ( ) { } . : \" ' [ ] become _.")
    type: str = F(..., "Feature type; LLM inputs must be `text`.")
    column: SafeName | None = F(None, "Dataset column to read; defaults to `name` (sanitised the same way).")
    tied: str | None = F(None, "Ludwig feature tying; unused for LLMs.")
    encoder: PassthroughEncoder = F(default_factory=PassthroughEncoder, help="Encoder block; always passthrough.")
    preprocessing: TextInputPreprocessing = F(
        default_factory=TextInputPreprocessing, help="Input preprocessing (Ludwig's text input `preprocessing`).")


    @field_validator("type", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _column_defaults_to_name(self) -> "InputFeature":
        if self.column is None:
            self.__dict__["column"] = self.name
        return self


# ---------------------------------------------------------------------------------- outputs
class TextOutputPreprocessing(ConfigModel):
    """Preprocessing of the target text column."""

    missing_value_strategy: MissingValueStrategy = F("drop_row", "What to do with rows whose target is missing.")
    fill_value: str = F("<UNK>", "Value used by `fill_with_const`.")
    max_sequence_length: int | None = F(None, "Cap on target tokens; null = longest target.", gt=0)
    sequence_length: int | None = F(
        None, "Fixed target length (tokens, EOS included): replaces max_sequence_length; null = not fixed.",
        gt=0, diverges="Ludwig also pads every target to N tokens; we pad per batch, so only the "
                       "truncation applies.")
    lowercase: bool = F(False, "Lower-case the target text before tokenizing (and in evaluation).")
    tokenizer: Literal["hf_tokenizer"] = F("hf_tokenizer", "Forced: the base model's tokenizer.")
    pretrained_model_name_or_path: str | None = F(None, "Forced to `base_model`; ignored.")
    padding: Literal["left", "right"] = F("left", "Forced to `left`.")


class TextExtractorDecoder(ConfigModel):
    """Decoder of a text output: the generated text is the prediction."""

    type: Literal["text_extractor"] = F("text_extractor", "Decoder type of text outputs.")
    max_new_tokens: int | None = F(
        None, "Copy of `generation.max_new_tokens` (Ludwig fills it); set generation.max_new_tokens instead.",
        gt=0)
    match_strategy: MatchType = F("contains", "Unused for text outputs.")
    tokenizer: Literal["hf_tokenizer"] = F("hf_tokenizer", "Forced: the base model's tokenizer.")
    pretrained_model_name_or_path: str | None = F(None, "Forced to `base_model`; ignored.")
    vocab_file: str | None = F("", "Unused for LLMs.")
    input_size: int | None = F(None, "Internal; unused.")


class TextLoss(ConfigModel):
    """Loss of a text output: next-token cross entropy on the target tokens."""

    type: Literal["next_token_softmax_cross_entropy", "sequence_softmax_cross_entropy"] = F(
        "next_token_softmax_cross_entropy", "Loss type.")
    weight: float = F(1.0, "Loss weight.", ge=0)
    robust_lambda: float = F(0, "Label smoothing towards uniform (0 = off).", ge=0, le=1)
    confidence_penalty: float = F(0, "Penalty on low-entropy predictions.", ge=0)
    class_similarities: list[list[float]] | None = F(None, "Unused for LLMs.")
    class_similarities_temperature: float = F(0, "Unused for LLMs.", ge=0)
    unique: bool = F(False, "Unused for LLMs.")


class TextOutputFeature(ConfigModel):
    """A text output: the model generates the target text."""

    name: SafeName = F(..., "Feature name; also the default dataset column (sanitised like input names).")
    type: Literal["text"] = F(..., "Output type `text`.")
    column: SafeName | None = F(None, "Dataset column of the target; defaults to `name`.")
    decoder: TextExtractorDecoder = F(default_factory=TextExtractorDecoder, help="Decoder block.")
    loss: TextLoss = F(default_factory=TextLoss, help="Loss block.")
    preprocessing: TextOutputPreprocessing = F(default_factory=TextOutputPreprocessing,
                                               help="Target preprocessing.")
    dependencies: list[str] = F(default_factory=list, help="Unused for LLMs (single output).")
    reduce_input: str | None = F("sum", "Unused for LLMs.")
    reduce_dependencies: str | None = F("sum", "Unused for LLMs.")
    default_validation_metric: str = F("loss", "Metric used for validation when trainer.validation_metric is null.")


    @model_validator(mode="after")
    def _column_defaults_to_name(self) -> "TextOutputFeature":
        if self.column is None:
            self.__dict__["column"] = self.name
        return self


class CategoryOutputPreprocessing(ConfigModel):
    """Preprocessing of a category target (LLM variant ``category_llm``)."""

    vocab: list[str] | None = F(
        None, "The labels. Recommended; when missing it is inferred from the training data.")
    fallback_label: str | None = F(None, "Label used when the generated text matches no label. Required.")
    missing_value_strategy: MissingValueStrategy = F("drop_row", "What to do with rows whose label is missing.")
    fill_value: str = F("<UNK>", "Value used by `fill_with_const`.")
    lowercase: bool = F(False, "Lower-case the label column and the labels (vocab, fallback_label, "
                               "match keys), so evaluation compares them case-insensitively.")

    @field_validator("vocab", mode="before")
    @classmethod
    def _labels_as_str(cls, v: Any) -> Any:
        # YAML turns labels like `1` or `true` into numbers/bools; labels are always text.
        if isinstance(v, list):
            return [str(x).lower() if isinstance(x, bool) else str(x) for x in v]
        return v

    @field_validator("fallback_label", mode="before")
    @classmethod
    def _label_as_str(cls, v: Any) -> Any:
        if isinstance(v, (bool, int, float)):
            return str(v).lower() if isinstance(v, bool) else str(v)
        return v


class MatchRule(ConfigModel):
    """How to recognise one label in the generated text."""

    type: MatchType = F("contains", "`contains`: substring; `regex`: re.search; `json_schema`: JSON field.")
    value: str = F(..., "Substring / regex / expected JSON value. Matched against lower-cased output.")


class CategoryExtractorDecoder(ConfigModel):
    """Decoder that maps generated text to a label by matching rules (zero-/few-shot classification)."""

    type: Literal["category_extractor"] = F("category_extractor", "Decoder type.")
    match: dict[str, MatchRule] | None = F(
        None, "Label -> match rule, tried in order; first hit wins. Derived from `vocab` when missing.",
        diverges="Ludwig requires `match`; we derive `{label: {type: contains, value: label}}` from vocab.")
    fallback_label: str | None = F(None, "Copied from preprocessing.fallback_label.")
    constrain_to_vocabulary: bool = F(False, "Only let generation follow token prefixes of known labels.")
    match_strategy: MatchType = F("contains", "Default match type.")
    tokenizer: Literal["hf_tokenizer"] = F("hf_tokenizer", "Forced: the base model's tokenizer.")
    pretrained_model_name_or_path: str | None = F(None, "Forced to `base_model`; ignored.")
    str2idx: dict[str, int] | None = F(None, "Internal: label -> index (filled from vocab).")
    vocab_file: str | None = F(None, "Unused for LLMs.")
    input_size: int | None = F(None, "Internal; unused.")

    @field_validator("match", mode="before")
    @classmethod
    def _keys_as_str(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k).lower() if isinstance(k, bool) else str(k): r for k, r in v.items()}
        return v


class ClassifierDecoder(ConfigModel):
    """Ludwig's classifier head on top of the LLM (category outputs)."""

    type: Literal["classifier"] = F("classifier", "Decoder type.")
    num_fc_layers: int = F(0, "Fully connected layers before the classifier.", ge=0)
    fc_output_size: int = F(256, "Width of those layers.", gt=0)
    fc_dropout: float = F(0.0, "Dropout of those layers.", ge=0, le=1)


CategoryDecoder = Annotated[
    Union[CategoryExtractorDecoder, ClassifierDecoder], Field(discriminator="type"),
    BeforeValidator(lambda v: _default_decoder(type_block(v)))]


def _default_decoder(value: Any) -> Any:
    """A category decoder block without ``type`` is the category_extractor (Ludwig's default)."""
    if isinstance(value, dict) and "type" not in value:
        return {"type": "category_extractor", **value}
    return value


class CategoryLoss(ConfigModel):
    """Loss of a category output."""

    type: Literal["softmax_cross_entropy"] = F("softmax_cross_entropy", "Loss type.")
    weight: float = F(1.0, "Loss weight.", ge=0)
    class_weights: list[float] | dict[str, float] | None = F(None, "Per-class weights.")
    robust_lambda: float = F(0, "Label smoothing towards uniform.", ge=0, le=1)
    confidence_penalty: float = F(0, "Penalty on low-entropy predictions.", ge=0)
    class_similarities: list[list[float]] | None = F(None, "Class similarity matrix.")
    class_similarities_temperature: float = F(0, "Temperature of class similarities.", ge=0)


class CategoryOutputFeature(ConfigModel):
    """A category output (trainer `none` only): generated text is mapped to one of the labels."""

    name: SafeName = F(..., "Feature name; also the default dataset column.")
    type: Literal["category"] = F(..., "Output type `category`.")
    column: SafeName | None = F(None, "Dataset column of the label; defaults to `name`.")
    decoder: CategoryDecoder = F(default_factory=CategoryExtractorDecoder, help="Decoder block.")
    loss: CategoryLoss = F(default_factory=CategoryLoss, help="Loss block.")
    preprocessing: CategoryOutputPreprocessing = F(
        default_factory=CategoryOutputPreprocessing, help="Label preprocessing (vocab, fallback_label).")
    dependencies: list[str] = F(default_factory=list, help="Unused for LLMs.")
    reduce_input: str | None = F("sum", "Unused for LLMs.")
    reduce_dependencies: str | None = F("sum", "Unused for LLMs.")
    top_k: int = F(3, "Number of top labels for the hits-at-k metric.", gt=0)
    default_validation_metric: str = F("accuracy", "Metric used when trainer.validation_metric is null.")


    @model_validator(mode="after")
    def _column_defaults_to_name(self) -> "CategoryOutputFeature":
        if self.column is None:
            self.__dict__["column"] = self.name
        return self


OutputFeature = Annotated[
    Union[TextOutputFeature, CategoryOutputFeature], Field(discriminator="type"), BeforeValidator(lower_type)]
OUTPUT_TYPES = ("text", "category")
