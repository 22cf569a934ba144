"""The ``quantization`` section -> ``transformers.BitsAndBytesConfig``, checked before anything loads.

bitsandbytes quantizes at load time, on CUDA and (since 0.45) on the CPU. The torchao backend is
not wired up yet and says so. Every check here runs before a weight is read, so a config that
cannot work fails in a second, not after a multi-gigabyte download.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from transformers import BitsAndBytesConfig

from llm_magic.errors import DeviceError, LlmMagicError
from llm_magic.runtime.models.device import parse_dtype

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import BitsAndBytesConfig

    from llm_magic.runtime.config.schema.quantization import QuantizationConfig

__all__ = ["bnb_config", "check_quantization", "compute_dtype_name", "describe_quantization"]

# bitsandbytes' CPU kernels (4-bit and 8-bit) arrived with its multi-backend release.
_MIN_BNB_FOR_CPU = (0, 45)
# Ludwig's (and the schema's) default compute dtype of 4-bit layers.
_DEFAULT_COMPUTE_DTYPE = "float16"


def describe_quantization(quantization: QuantizationConfig | None) -> str:
    """A short human description (``"4-bit nf4 (bitsandbytes), double quant"``) or ``"none"``."""
    if quantization is None:
        return "none"
    if quantization.bits == 4:
        double = ", double quant" if quantization.bnb_4bit_use_double_quant else ""
        return f"4-bit {quantization.bnb_4bit_quant_type} (bitsandbytes){double}"
    return f"8-bit LLM.int8 (bitsandbytes), threshold {quantization.llm_int8_threshold}"


def check_quantization(quantization: QuantizationConfig | None, device: torch.device | None) -> None:
    """Raise a clear error if ``quantization`` cannot work on ``device`` (before loading).

    With ``device=None`` only the backend and bits are checked (no imports).
    """
    if quantization is None:
        return
    backend = quantization.backend
    if backend == "torchao":
        raise LlmMagicError(
            "quantization.backend: torchao is not supported yet. Use backend: bitsandbytes "
            "(bits: 4 or 8), which runs on CUDA and on the CPU, or remove the quantization section."
        )
    if backend != "bitsandbytes":
        raise LlmMagicError(f"quantization.backend: {backend!r} is unknown; use bitsandbytes.")
    bits = quantization.bits
    if bits not in (4, 8):  # the schema allows only these; kept for a config built without it
        raise LlmMagicError(f"quantization.bits: {bits!r} is not supported; use 4 or 8.")
    if device is None:
        return
    try:
        # lazy: only for a quantized load; a missing bitsandbytes gets the hint below
        import bitsandbytes
    except ImportError:
        raise DeviceError(
            "quantization needs the bitsandbytes package: pip install 'bitsandbytes>=0.45', then "
            "restart the kernel. Or remove the quantization section."
        ) from None
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        return
    if kind == "cpu":
        version = tuple(int(p) for p in bitsandbytes.__version__.split(".")[:2] if p.isdigit())
        if version < _MIN_BNB_FOR_CPU:
            raise DeviceError(
                f"quantization on the CPU needs bitsandbytes>=0.45 (installed: "
                f"{bitsandbytes.__version__}). Upgrade it, run on a CUDA GPU, or remove the "
                "quantization section."
            )
        return
    raise DeviceError(
        f"quantization: bitsandbytes cannot quantize on this device ({kind}); it needs a CUDA GPU "
        "or the CPU. Remove the quantization section to load the model unquantized."
    )


def compute_dtype_name(quantization: QuantizationConfig, device: torch.device) -> tuple[str, str | None]:
    """The 4-bit compute dtype to use on ``device``, and a note when it is not the configured one.

    Without CUDA, a ``bnb_4bit_compute_dtype`` the user did not set becomes float32 instead of
    the float16 default: CPUs have no fast float16 matmul, and benchmarks/bench_qlora.py measured a
    QLoRA step 13-18x slower in float16 than in float32 there. A value set in the config (the
    pydantic ``model_fields_set``) is always honoured.
    """
    configured = quantization.bnb_4bit_compute_dtype or _DEFAULT_COMPUTE_DTYPE
    explicit = "bnb_4bit_compute_dtype" in quantization.model_fields_set
    on_cpu = getattr(device, "type", str(device)) == "cpu"
    if quantization.bits != 4 or explicit or not on_cpu or configured == "float32":
        return configured, None
    return "float32", (
        f"4-bit compute dtype float32 instead of the default {configured}: {configured} matmuls are "
        "an order of magnitude slower on the CPU (set quantization.bnb_4bit_compute_dtype to choose)"
    )


def bnb_config(quantization: QuantizationConfig, device: torch.device) -> BitsAndBytesConfig:
    """The ``BitsAndBytesConfig`` for ``quantization`` (every bitsandbytes field of ``quantization``)."""
    check_quantization(quantization, device)
    bits = quantization.bits
    if bits == 8 and getattr(device, "type", "") == "cpu":
        # bitsandbytes warns on every int8 matmul that float32 inputs go through float16; on the
        # CPU that is how its int8 kernel works, so the warning only floods the notebook.
        warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
    return BitsAndBytesConfig(
        load_in_4bit=bits == 4,
        load_in_8bit=bits == 8,
        llm_int8_threshold=float(quantization.llm_int8_threshold),
        llm_int8_has_fp16_weight=quantization.llm_int8_has_fp16_weight,
        bnb_4bit_compute_dtype=parse_dtype(
            compute_dtype_name(quantization, device)[0], "quantization.bnb_4bit_compute_dtype",
        ) if bits == 4 else torch.float32,
        bnb_4bit_use_double_quant=quantization.bnb_4bit_use_double_quant,
        bnb_4bit_quant_type=quantization.bnb_4bit_quant_type,
    )
