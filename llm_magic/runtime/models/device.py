"""Where the model runs and in which precision, decided once per load and shown to the user.

CUDA gets bfloat16 where the GPU supports it (Ampere and newer), else float16; the CPU and Apple
MPS get float32, because half-precision matmuls there are slow or lossy. Quantized loads keep
their non-quantized weights in the compute dtype on CUDA (as Ludwig does) and in float32 on the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from llm_magic.errors import DeviceError, LlmMagicError

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch

    from llm_magic.runtime.config.schema.quantization import QuantizationConfig

__all__ = ["Placement", "choose_placement", "parse_dtype"]

_DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Placement:
    """The device and dtype a model loads with, and why (a short note for the user)."""

    device: torch.device
    dtype: torch.dtype
    note: str


def parse_dtype(name: str, key: str):
    """The torch dtype named ``name`` (``float32``/``float16``/``bfloat16``); ``key`` names the config key."""
    if name not in _DTYPES:
        raise LlmMagicError(f"{key}: {name!r} is not a dtype; use one of {', '.join(_DTYPES)}.")
    return getattr(torch, name)


def choose_placement(quantization: QuantizationConfig | None = None) -> Placement:
    """Pick the device and load dtype for a model with the given ``quantization`` section (or None)."""
    if torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
        bf16 = torch.cuda.is_bf16_supported()
        if quantization is not None:
            dtype = parse_dtype(
                quantization.bnb_4bit_compute_dtype or "float16",
                "quantization.bnb_4bit_compute_dtype",
            )
            if dtype == torch.bfloat16 and not bf16:
                raise DeviceError(
                    "quantization.bnb_4bit_compute_dtype: bfloat16 is not supported by this GPU "
                    f"({torch.cuda.get_device_name(device)}). Use float16."
                )
            return Placement(device, dtype, "CUDA; non-quantized weights in the compute dtype")
        if bf16:
            return Placement(device, torch.bfloat16, "CUDA with bfloat16 support")
        return Placement(device, torch.float16, "CUDA without bfloat16 support, so float16")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Placement(torch.device("mps"), torch.float32, "Apple MPS; float32 for stable training")
    return Placement(torch.device("cpu"), torch.float32, "no GPU found, so CPU in float32")
