"""Rules about the model: adapters, quantization, backend and security (``adapter``, ``quantization``,
``backend``, ``trust_remote_code``)."""
from __future__ import annotations

from llm_magic.runtime.config.rules.registry import rule
from llm_magic.runtime.config.schema.adapters import MERGEABLE_TYPES
from llm_magic.runtime.config.schema.trainer import TRAINING_TRAINERS

_TRAINING_KEYS = ("epochs", "learning_rate", "train_steps", "batch_size", "optimizer")


def _adapter_blocks(c):
    """``(path, adapter)`` for the single adapter or each named one."""
    if getattr(c, "adapter", None) is not None:
        yield "adapter", c.adapter
    if getattr(c, "adapters", None) is not None:
        for name, block in c.adapters.adapters.items():
            yield f"adapters.adapters.{name}", block


@rule("trust_remote_code")
def no_remote_code(c):
    if c.trust_remote_code:
        yield ("trust_remote_code",
               "llm_magic never runs model code downloaded from the Hub. Remove it (or set false) and use "
               "a model that transformers supports natively.")


@rule("hyperopt")
def no_hyperopt(c):
    if c.hyperopt is not None:
        yield ("hyperopt", "hyperparameter search is not supported by llm_magic; remove the block (run "
                           "several named %%llm_config cells instead).")


@rule("adapter", "adapters")
def adapter_or_adapters(c):
    if c.adapter is not None and c.adapters is not None:
        yield ("adapters", "set either `adapter` (one) or `adapters` (several), not both.")


@rule("adapters")
def multi_adapter_names(c):
    """Ludwig's ``adapters`` rules: non-empty, known active name, sound merge."""
    a = c.adapters
    if a is None:
        return
    names = list(a.adapters)
    if not names:
        yield ("adapters.adapters", "add at least one named adapter, e.g. `adapters: {adapters: {a: {type: lora}}}`.")
        return
    merge = a.merge
    valid_active = names + ([merge.name] if merge else [])
    if a.active is not None and a.active not in valid_active:
        yield ("adapters.active", f"`{a.active}` is not one of the adapters ({', '.join(valid_active)}).")
    if merge is None:
        return
    if merge.name in names:
        yield ("adapters.merge.name", f"`{merge.name}` is already an adapter name; pick a new name.")
    missing = [s for s in merge.sources if s not in names]
    if missing:
        yield ("adapters.merge.sources", f"unknown adapter(s) {', '.join(missing)}; known: {', '.join(names)}.")
    not_lora = [s for s in merge.sources if s in names and a.adapters[s].type not in MERGEABLE_TYPES]
    if not_lora:
        yield ("adapters.merge.sources",
               f"only LoRA-family adapters can be merged; {', '.join(not_lora)} are not.")
    if merge.weights is not None and len(merge.weights) != len(merge.sources):
        yield ("adapters.merge.weights",
               f"{len(merge.weights)} weight(s) for {len(merge.sources)} source(s); give one per source.")
    if merge.combination_type not in ("linear", "svd") and merge.density is None:
        yield ("adapters.merge.density",
               f"combination_type {merge.combination_type} needs `density` (fraction of weights kept, 0-1).")


@rule("adapter", "adapters", "trainer")
def adapter_needs_finetune(c):
    """An adapter is trained by the finetune trainer, or loaded from pretrained weights for inference."""
    if c.trainer.type in TRAINING_TRAINERS:
        return
    raw_trainer = c.raw.get("trainer")
    untyped = isinstance(raw_trainer, dict) and "type" not in raw_trainer and \
        any(k in raw_trainer for k in _TRAINING_KEYS)
    for path, block in _adapter_blocks(c):
        if block.pretrained_adapter_weights is None:
            why = ("your trainer block has training settings but no `type`, so it is the inference-only "
                   "`none` trainer (as in Ludwig); add `type: finetune` to it."
                   if untyped else "add `trainer: {type: finetune}` to train it, or give "
                   "`pretrained_adapter_weights` to use a trained adapter for inference.")
            yield (path, f"an adapter needs trainer.type finetune: {why}")


@rule("adapter", "adapters")
def adapter_specifics(c):
    """Per-kind constraints PEFT would otherwise raise only when the model is wrapped."""
    for path, a in _adapter_blocks(c):
        if a.type in ("lora", "adalora"):
            if a.init_lora_weights == "eva" and a.eva_config is None:
                yield (f"{path}.eva_config", "init_lora_weights eva needs `eva_config: {}` (defaults are fine).")
            if a.init_lora_weights == "loftq" and a.loftq_config is None:
                yield (f"{path}.loftq_config", "init_lora_weights loftq needs `loftq_config: {loftq_bits: 4}`.")
        if a.type == "adalora" and a.tinit + a.tfinal >= a.total_step:
            yield (f"{path}.total_step",
                   f"tinit + tfinal ({a.tinit + a.tfinal}) must be smaller than total_step ({a.total_step}).")
        if a.type == "ia3" and a.feedforward_modules:
            extra = set(a.feedforward_modules) - set(a.target_modules or [])
            if a.target_modules is not None and extra:
                yield (f"{path}.feedforward_modules",
                       f"must be a subset of target_modules; {', '.join(sorted(extra))} is not in it.")
        if a.type == "oft" and (a.r != 0) == (a.oft_block_size != 0):
            yield (f"{path}.r", f"set exactly one of r ({a.r}) and oft_block_size ({a.oft_block_size}) to a "
                                "non-zero value (e.g. oft_block_size: 0 to use r).")
        if a.type == "prompt_tuning" and a.prompt_tuning_init == "TEXT" and not a.prompt_tuning_init_text:
            yield (f"{path}.prompt_tuning_init_text", "prompt_tuning_init TEXT needs the init text.")
        if a.postprocessor.merge_adapter_into_base_model and a.type not in MERGEABLE_TYPES:
            yield (f"{path}.postprocessor.merge_adapter_into_base_model",
                   f"only LoRA-family adapters ({', '.join(MERGEABLE_TYPES)}) can be merged into the base "
                   f"model, not {a.type}.")


@rule("quantization")
def quantization_backend_fields(c):
    q = c.quantization
    if q is None:
        return
    if q.backend == "torchao":
        if q.mode is None:
            yield ("quantization.mode", "torchao needs `mode`: int4_weight_only, int8_weight_only, "
                                        "int8_dynamic or float8.")
        if q.qat and q.mode == "float8":
            yield ("quantization.qat", "QAT supports the int modes only, not float8.")
        # Only values that differ from the defaults: to_dict() writes every field out.
        bnb_only = sorted(k for k in q.model_fields_set if k.startswith(("bnb_", "llm_int8_"))
                          and getattr(q, k) != type(q).model_fields[k].default)
        if bnb_only:
            yield (f"quantization.{bnb_only[0]}", f"{', '.join(bnb_only)} only apply to backend bitsandbytes.")
    else:
        if q.mode is not None:
            yield ("quantization.mode", "`mode` is a torchao setting; add `backend: torchao` or remove it "
                                        "(bitsandbytes uses `bits`).")
        if q.qat:
            yield ("quantization.qat", "`qat` needs `backend: torchao`.")


@rule("quantization", "adapter", "adapters", "trainer")
def quantized_training_needs_lora(c):
    """Quantized weights cannot be trained directly: only a LoRA adapter on top (QLoRA)."""
    if c.quantization is None or c.trainer.type == "none":
        return
    if c.adapters is not None:
        yield ("adapters", "training a quantized model needs the single `adapter: {type: lora}` form; "
                           "`adapters:` is not supported with quantization.")
    elif c.adapter is None:
        yield ("adapter", "training a quantized model needs a LoRA adapter (QLoRA): add `adapter: lora`, or "
                          "remove `quantization` for full fine-tuning.", "quantization")
    elif c.adapter.type != "lora":
        yield ("adapter.type", f"training a quantized model needs `type: lora` (got {c.adapter.type}).")


@rule("quantization", "adapter")
def no_merge_into_4bit(c):
    q, a = c.quantization, c.adapter
    if q is None or a is None or q.backend != "bitsandbytes":
        return
    if a.postprocessor.merge_adapter_into_base_model and a.type in MERGEABLE_TYPES and q.bits < 8:
        yield ("adapter.postprocessor.merge_adapter_into_base_model",
               "a 4-bit model cannot be saved after merging; use `quantization: {bits: 8}` or turn the merge off.")


@rule("backend", "trainer")
def backend_fields(c):
    b = c.backend
    if b.type == "local":
        for key in ("processor", "trainer", "loader", "preprocessor_kwargs"):
            if getattr(b, key) is not None:
                yield (f"backend.{key}", f"`{key}` only applies to `backend: {{type: ray}}`.")
    if b.type == "ray" and c.trainer.type in TRAINING_TRAINERS:
        yield ("backend.type", "fine-tuning runs on the local backend only (Ludwig has no Ray LLM fine-tune "
                               "trainer); remove `backend` or use trainer type none.")
