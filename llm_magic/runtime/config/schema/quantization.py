"""``quantization``: load the base model in 4/8 bits (bitsandbytes) or quantize with torchao.

Which fields go with which backend, and the QLoRA rules, are checked in ``rules/model.py``.
"""
from __future__ import annotations

from typing import Any, Literal

from llm_magic.runtime.config.schema.base import F, ConfigModel


class QuantizationConfig(ConfigModel):
    """Quantisation of the base model."""

    backend: Literal["bitsandbytes", "torchao"] = F(
        "bitsandbytes", "Quantisation library.",
        diverges="torchao validates (so Ludwig configs paste) but is refused when the model loads: not supported yet.")
    mode: Literal["int4_weight_only", "int8_weight_only", "int8_dynamic", "float8"] | None = F(
        None, "torchao only (required there): the quantisation scheme.")
    qat: bool = F(False, "torchao only: fake-quantise during training (QAT), quantise for real at save.")
    bits: Literal[4, 8] = F(4, "bitsandbytes: load the weights in 4 or 8 bits.")
    llm_int8_threshold: float = F(6.0, "LLM.int8 outlier threshold.", ge=0)
    llm_int8_has_fp16_weight: bool = F(False, "Keep fp16 main weights for int8.")
    bnb_4bit_compute_dtype: Literal["float32", "float16", "bfloat16"] = F(
        "float16",
        "Compute dtype of 4-bit layers (also the load dtype). Left unset on a machine without CUDA "
        "(4-bit on the CPU), it computes in float32: float16 matmuls are 13-18x slower there. A "
        "value you set is always used.",
        diverges="Ludwig always defaults to float16; we use float32 on the CPU when it is unset.")
    bnb_4bit_use_double_quant: bool = F(True, "Nested quantisation of the quantisation constants.")
    bnb_4bit_quant_type: Literal["fp4", "nf4"] = F("nf4", "4-bit data type.")

    def to_bnb_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.BitsAndBytesConfig`` (bitsandbytes backend)."""
        return {
            "load_in_4bit": self.bits == 4,
            "load_in_8bit": self.bits == 8,
            "llm_int8_threshold": self.llm_int8_threshold,
            "llm_int8_has_fp16_weight": self.llm_int8_has_fp16_weight,
            "bnb_4bit_compute_dtype": self.bnb_4bit_compute_dtype,
            "bnb_4bit_use_double_quant": self.bnb_4bit_use_double_quant,
            "bnb_4bit_quant_type": self.bnb_4bit_quant_type,
        }
