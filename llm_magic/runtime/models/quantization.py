"""The ``quantization`` section -> ``transformers.BitsAndBytesConfig``, checked before anything loads.

bitsandbytes quantizes at load time, on CUDA and (since 0.45) on the CPU. The torchao backend is
not wired up yet and says so. Every check here runs before a weight is read, so a config that
cannot work fails in a second, not after a multi-gigabyte download.
"""
from __future__ import annotations

import warnings
from typing import Any

from llm_magic.errors import LlmMagicError

__all__ = ["bnb_config", "check_quantization", "describe_quantization"]

# bitsandbytes' CPU kernels (4-bit and 8-bit) arrived with its multi-backend release.
_MIN_BNB_FOR_CPU = (0, 45)


def describe_quantization(quantization: Any) -> str:
    """A short human description (``"4-bit nf4 (bitsandbytes), double quant"``) or ``"none"``."""
    if quantization is None:
        return "none"
    bits = getattr(quantization, "bits", 4)
    if bits == 4:
        kind = getattr(quantization, "bnb_4bit_quant_type", "nf4")
        double = ", double quant" if getattr(quantization, "bnb_4bit_use_double_quant", True) else ""
        return f"4-bit {kind} (bitsandbytes){double}"
    return f"8-bit LLM.int8 (bitsandbytes), threshold {getattr(quantization, 'llm_int8_threshold', 6.0)}"


def check_quantization(quantization: Any, device: Any) -> None:
    """Raise a clear error if ``quantization`` cannot work on ``device`` (before loading).

    With ``device=None`` only the backend and bits are checked (no imports).
    """
    if quantization is None:
        return
    backend = getattr(quantization, "backend", "bitsandbytes") or "bitsandbytes"
    if backend == "torchao":
        raise LlmMagicError(
            "quantization.backend: torchao is not supported yet. Use backend: bitsandbytes "
            "(bits: 4 or 8), which runs on CUDA and on the CPU, or remove the quantization section."
        )
    if backend != "bitsandbytes":
        raise LlmMagicError(f"quantization.backend: {backend!r} is unknown; use bitsandbytes.")
    bits = getattr(quantization, "bits", 4)
    if bits not in (4, 8):
        raise LlmMagicError(f"quantization.bits: {bits!r} is not supported; use 4 or 8.")
    if device is None:
        return
    try:
        import bitsandbytes
    except ImportError:
        raise LlmMagicError(
            "quantization needs the bitsandbytes package: pip install 'bitsandbytes>=0.45', then "
            "restart the kernel. Or remove the quantization section."
        ) from None
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        return
    if kind == "cpu":
        version = tuple(int(p) for p in bitsandbytes.__version__.split(".")[:2] if p.isdigit())
        if version < _MIN_BNB_FOR_CPU:
            raise LlmMagicError(
                f"quantization on the CPU needs bitsandbytes>=0.45 (installed: "
                f"{bitsandbytes.__version__}). Upgrade it, run on a CUDA GPU, or remove the "
                "quantization section."
            )
        return
    raise LlmMagicError(
        f"quantization: bitsandbytes cannot quantize on this device ({kind}); it needs a CUDA GPU "
        "or the CPU. Remove the quantization section to load the model unquantized."
    )


def bnb_config(quantization: Any, device: Any):
    """The ``BitsAndBytesConfig`` for ``quantization`` (every bitsandbytes field of the spec)."""
    import torch
    from transformers import BitsAndBytesConfig

    from llm_magic.runtime.models.device import parse_dtype

    check_quantization(quantization, device)
    bits = quantization.bits
    if bits == 8 and getattr(device, "type", "") == "cpu":
        # bitsandbytes warns on every int8 matmul that float32 inputs go through float16; on the
        # CPU that is how its int8 kernel works, so the warning only floods the notebook.
        warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
    return BitsAndBytesConfig(
        load_in_4bit=bits == 4,
        load_in_8bit=bits == 8,
        llm_int8_threshold=float(getattr(quantization, "llm_int8_threshold", 6.0)),
        llm_int8_has_fp16_weight=bool(getattr(quantization, "llm_int8_has_fp16_weight", False)),
        bnb_4bit_compute_dtype=parse_dtype(
            getattr(quantization, "bnb_4bit_compute_dtype", None) or "float16",
            "quantization.bnb_4bit_compute_dtype",
        ) if bits == 4 else torch.float32,
        bnb_4bit_use_double_quant=bool(getattr(quantization, "bnb_4bit_use_double_quant", True)),
        bnb_4bit_quant_type=getattr(quantization, "bnb_4bit_quant_type", "nf4") or "nf4",
    )
