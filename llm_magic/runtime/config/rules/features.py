"""Rules about the input and output features (``input_features`` / ``output_features``)."""
from __future__ import annotations

import re

from llm_magic.runtime.config.rules.registry import rule
from llm_magic.runtime.config.schema.trainer import TRAINING_TRAINERS


@rule("input_features")
def exactly_one_text_input(c):
    """LLMs read one text column; several columns are combined by the prompt template."""
    if len(c.input_features) != 1:
        yield ("input_features",
               f"expected exactly one input feature of type text, found {len(c.input_features)}. To use "
               "several columns, keep one input feature and combine the columns in prompt.template, "
               "e.g. \"{title}\\n{body}\".")
    for index, feature in enumerate(c.input_features):
        if feature.type != "text":
            yield (f"input_features[{index}].type",
                   f"LLM input features must be `type: text` (got `{feature.type}`). Turn other columns "
                   "into text with prompt.template.")


@rule("output_features")
def exactly_one_output(c):
    """Ludwig builds one generation head; more outputs fail when the model is built."""
    if len(c.output_features) != 1:
        yield ("output_features",
               f"expected exactly one output feature (text, or category), found {len(c.output_features)}.")


@rule("input_features", "output_features")
def distinct_feature_names(c):
    """Feature names key predictions and metrics, so input and output must differ."""
    inputs = {f.name for f in c.input_features}
    for index, feature in enumerate(c.output_features):
        if feature.name in inputs:
            yield (f"output_features[{index}].name",
                   f"`{feature.name}` is also the input feature's name; give the output another name "
                   "(use `column:` if both read the same dataset column).")


@rule("output_features", "trainer")
def finetune_needs_text_output(c):
    """Fine-tuning trains next-token prediction on the target text (Ludwig issue 3430)."""
    if c.trainer.type not in TRAINING_TRAINERS:
        return
    for index, feature in enumerate(c.output_features):
        if feature.type != "text":
            yield (f"output_features[{index}].type",
                   f"trainer.type {c.trainer.type} needs a text output feature (got `{feature.type}`). Use "
                   "`type: text` to fine-tune on the label text, or `trainer: {type: none}` for "
                   "zero-/few-shot classification.")


@rule("output_features")
def category_output_labels(c):
    """A category output needs a fallback label, a usable vocabulary and matchable rules."""
    for index, feature in enumerate(c.output_features):
        if feature.type != "category":
            continue
        base = f"output_features[{index}]"
        prep = feature.preprocessing
        if prep.fallback_label is None:
            yield (f"{base}.preprocessing.fallback_label",
                   "a category output needs `fallback_label`: the label used when the generated text "
                   "matches none, e.g. `preprocessing: {fallback_label: other}`.")
        if prep.vocab is not None:
            if len(set(prep.vocab)) <= 1:
                yield (f"{base}.preprocessing.vocab",
                       f"needs at least two different labels (got {prep.vocab}).")
            dupes = sorted({v for v in prep.vocab if prep.vocab.count(v) > 1})
            if dupes:
                yield (f"{base}.preprocessing.vocab", f"duplicate labels: {', '.join(dupes)}.")
        decoder = feature.decoder
        if decoder.type != "category_extractor":
            continue
        if decoder.match is None and prep.vocab is None:
            yield (f"{base}.decoder.match",
                   "the category_extractor needs `match` (label -> {type: contains, value: ...}) or "
                   "`preprocessing.vocab` to derive it from.")
        for label, match in (decoder.match or {}).items():
            if prep.vocab is not None and label not in prep.vocab and label != prep.fallback_label:
                yield (f"{base}.decoder.match.{label}",
                       f"label `{label}` is not in preprocessing.vocab ({', '.join(prep.vocab)}).")
            if match.type == "regex":
                try:
                    re.compile(match.value)
                except re.error as exc:
                    yield (f"{base}.decoder.match.{label}.value", f"invalid regular expression: {exc}.")


@rule("output_features", "trainer")
def validation_field_is_the_output(c):
    """The watched metric must belong to the (single) output feature."""
    field = c.trainer.validation_field
    names = [f.name for f in c.output_features]
    if field is not None and field not in names and field != "combined":
        yield ("trainer.validation_field",
               f"`{field}` is not an output feature; use `{names[0] if names else 'output'}` (or leave it "
               "null).")
