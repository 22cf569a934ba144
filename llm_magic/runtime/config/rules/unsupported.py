"""Rules for keys the schema accepts but llm_magic cannot apply: a set value is an error, not a no-op.

See ``runtime/config/effects.py`` for the registry of what every key does.
"""
from __future__ import annotations

from llm_magic.runtime.config.rules.registry import rule
from llm_magic.runtime.config.schema.trainer import VALIDATION_METRICS

# AdaLoRA inherits these LoRA fields, but PEFT's AdaLoraConfig takes none of them.
_ADALORA_DROPS = ("use_dora", "use_rslora", "init_lora_weights", "eva_config", "loftq_config",
                  "alpha_pattern", "layer_replication")


def _blocks(c):
    if getattr(c, "adapter", None) is not None:
        yield "adapter", c.adapter
    if getattr(c, "adapters", None) is not None:
        for name, block in c.adapters.adapters.items():
            yield f"adapters.adapters.{name}", block


@rule("output_features")
def no_classifier_head(c):
    """Ludwig's classifier head is not built; the category_extractor maps generated text to labels."""
    for index, feature in enumerate(c.output_features):
        if feature.type == "category" and feature.decoder.type == "classifier":
            yield (f"output_features[{index}].decoder.type",
                   "the `classifier` decoder (a trained head on the LLM) is not supported; use "
                   "`decoder: {type: category_extractor}` (the default), which maps the generated text to "
                   "a label with `match` rules.")


@rule("adapter", "adapters")
def adalora_lora_only_fields(c):
    for path, block in _blocks(c):
        if block.type != "adalora":
            continue
        fields = type(block).model_fields
        for name in _ADALORA_DROPS:
            if getattr(block, name) != fields[name].get_default(call_default_factory=True):
                yield (f"{path}.{name}",
                       f"`{name}` is a LoRA setting that PEFT's AdaLoRA does not take, so it would have no "
                       "effect; remove it or use `type: lora`.")


@rule("adapters")
def loraplus_needs_single_adapter(c):
    """LoRA+ builds the optimizer for one adapter; the multi-adapter form does not read it."""
    if c.adapters is None:
        return
    for name, block in c.adapters.adapters.items():
        if getattr(block, "loraplus_lr_ratio", None) is not None:
            yield (f"adapters.adapters.{name}.loraplus_lr_ratio",
                   "loraplus_lr_ratio applies to the single `adapter:` form only; move the adapter to "
                   "`adapter:` or remove loraplus_lr_ratio.")


@rule("output_features", "trainer")
def default_validation_metric_known(c):
    """A fine-tune watches the text output's default_validation_metric when validation_metric is null."""
    feature = c.output_features[0] if c.output_features else None
    if c.trainer.type != "finetune" or feature is None or feature.type != "text":
        return
    metric = feature.default_validation_metric
    if "default_validation_metric" in feature.model_fields_set and metric not in VALIDATION_METRICS:
        yield ("output_features[0].default_validation_metric",
               f"{metric!r} is not a text-output metric; use one of {', '.join(VALIDATION_METRICS)}.")
