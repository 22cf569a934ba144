"""``%llm_merge``: fold the adapter into the base weights (PEFT ``merge_and_unload``).

The session's own adapter model is never touched (it stays trainable and usable): the merge
happens on a copy. For an unquantized base that is a deep copy; for a quantized base the copy is
the base reloaded in full precision with the trained adapter weights applied, because merging
into 4/8-bit weights would re-quantize (and lose) the update. Either way the copy needs memory
for a whole model, which the report (and any out-of-memory error) states.

The session keeps the merged model (``Session.persistence.merged``) with a fingerprint of the
adapter weights and hands it back as ``cached``, so ``%llm_export`` reuses it until the adapter
changes (e.g. more training). Merging takes the loaded model; it never loads one itself, except
the full-precision copy of a quantized base that the merge is made on.
"""
from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llm_magic.errors import DeviceError, LlmMagicError
from llm_magic.runtime.config import load_config
from llm_magic.runtime.models.manager import ModelManager

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.models.loader import LoadedModel
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


__all__ = ["MergeReport", "adapter_fingerprint", "estimate_bytes", "merge_model", "merged_copy"]


@dataclass
class MergeReport:
    """A merged model and what it took to build it."""

    model: PreTrainedModel | None
    tokenizer: PreTrainedTokenizerBase
    parameters: int
    dtype: str
    estimated_bytes: int
    dequantized: bool
    fingerprint: str

    def __repr__(self) -> str:
        how = (
            "reloaded the base in full precision and applied the adapter, then merged"
            if self.dequantized else "merged the adapter into a copy of the base weights"
        )
        return (
            f"Merged: {how}. The merged model has {self.parameters:,} parameters ({self.dtype}, "
            f"about {self.estimated_bytes / 1e9:.2f} GB). The session keeps its adapter model; "
            "write the merged one with %llm_export DIR."
        )


def _is_peft(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "base_model")


def _logical_parameters(model: torch.nn.Module) -> int:
    """Parameter count as in the full-precision model (4-bit weights are stored packed)."""
    total = 0
    for param in model.parameters():
        quant_state = getattr(param, "quant_state", None)
        shape = getattr(quant_state, "shape", None)
        total += math.prod(shape) if shape is not None else param.numel()
    return total


def estimate_bytes(parameters: int, dtype: Any) -> int:
    """Bytes to hold ``parameters`` weights in ``dtype`` (4 bytes when the dtype is unknown)."""
    # lazy: torch loads on first use (importing llm_magic stays cheap)
    import torch

    try:
        width = torch.finfo(dtype).bits // 8
    except TypeError:
        width = 4
    return parameters * width


def adapter_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every adapter tensor: changes whenever training updates the adapter."""
    # lazy: torch loads on first use (importing llm_magic stays cheap)
    import torch
    from peft import get_peft_model_state_dict

    digest = hashlib.sha1()
    for name in sorted(model.peft_config):
        state = get_peft_model_state_dict(model, adapter_name=name)
        for key in sorted(state):
            digest.update(key.encode())
            tensor = state[key].detach().cpu().contiguous().reshape(-1)
            digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _full_precision_copy(config: LLMConfig | None, model: PeftModel, estimated: int) -> PeftModel:
    """The base reloaded without quantization, with ``model``'s adapter weights applied."""
    # lazy: torch loads on first use (importing llm_magic stays cheap)
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    data = config.to_dict()
    data["quantization"] = None
    full_config = load_config(data)
    manager = ModelManager()
    try:
        copy_model = manager.ensure(full_config).model
        for name in sorted(model.peft_config):
            set_peft_model_state_dict(
                copy_model, get_peft_model_state_dict(model, adapter_name=name), adapter_name=name
            )
    except (MemoryError, RuntimeError) as exc:
        manager.unload()
        if isinstance(exc, RuntimeError) and "out of memory" not in str(exc).lower():
            raise
        raise DeviceError(
            f"Out of memory while reloading {config.base_model} in full precision to merge the "
            f"adapter: that needs about {estimated / 1e9:.1f} GB besides the quantized model. "
            "Free memory (unload other models, restart and %llm_load the saved adapter) and retry."
        ) from None
    return copy_model


def merged_copy(model: PeftModel, config: LLMConfig | None, *, progressbar: bool = False
                ) -> tuple[PreTrainedModel, bool]:
    """Return (merged model, dequantized?) built from a copy of the PEFT ``model``."""
    quantized = bool(config is not None and config.quantization) or bool(
        getattr(model, "is_quantized", False) or getattr(model.get_base_model(), "is_quantized", False)
    )
    estimated = estimate_bytes(_logical_parameters(model), getattr(model, "dtype", None))
    work = _full_precision_copy(config, model, estimated) if quantized else copy.deepcopy(model)
    adapter_type = config.adapter.type if config is not None and config.adapter is not None else "this"
    try:
        merged = work.merge_and_unload(progressbar=progressbar)
    except (ValueError, NotImplementedError, AttributeError, TypeError) as exc:
        raise LlmMagicError(
            f"Cannot merge a {adapter_type} adapter into the base weights ({exc}). Keep it as an "
            "adapter (%llm_save DIR) or train a LoRA-family adapter (adapter.type: lora)."
        ) from None
    merged.eval()
    return merged, quantized


def merge_model(config: "LLMConfig", bundle: "LoadedModel", cached: MergeReport | None = None) -> MergeReport:
    """Merge the adapter of the loaded ``bundle`` into full base weights.

    ``cached`` is the last merge: returned as it is while the adapter weights are unchanged.
    The bundle's own model is left as it was (the merge happens on a copy).
    """
    model = bundle.model
    if not _is_peft(model):
        raise LlmMagicError(
            "Nothing to merge: the current config has no adapter, so the model's weights are "
            "already complete. Use %llm_export DIR to write them as a Hugging Face folder."
        )
    fingerprint = adapter_fingerprint(model)
    if cached is not None and cached.fingerprint == fingerprint and cached.model is not None:
        return cached
    postprocessor = config.adapter.postprocessor if config.adapter is not None else None
    merged, dequantized = merged_copy(
        model, config, progressbar=bool(postprocessor is not None and postprocessor.progressbar)
    )
    parameters = merged.num_parameters()
    return MergeReport(
        model=merged,
        tokenizer=bundle.tokenizer,
        parameters=parameters,
        dtype=str(merged.dtype).replace("torch.", ""),
        estimated_bytes=estimate_bytes(parameters, merged.dtype),
        dequantized=dequantized,
        fingerprint=fingerprint,
    )
