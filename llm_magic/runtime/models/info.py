"""``ModelInfo``: what is loaded and what it costs (``%llm_info`` and ``Session.info()``).

A plain result object in the jupysql style: ``_repr_html_`` for notebooks, ``__repr__`` for the
terminal. It is a snapshot; computing it walks the parameters once.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch

    from llm_magic.runtime.models.loader import LoadedModel

__all__ = ["ModelInfo", "count_parameters", "model_info"]


def _param_count(param: torch.nn.Parameter) -> int:
    # bitsandbytes packs two 4-bit values per byte, so numel() of a Params4bit is half the real
    # count (PEFT's get_nb_trainable_parameters corrects for it the same way).
    if param.__class__.__name__ == "Params4bit":
        return param.numel() * 2 * param.element_size()
    return param.numel()


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` parameter counts of ``model`` (4-bit weights counted unpacked)."""
    total = trainable = 0
    for param in model.parameters():
        count = _param_count(param)
        total += count
        if param.requires_grad:
            trainable += count
    return total, trainable


def _memory_bytes(model: torch.nn.Module) -> int:
    """Bytes held by parameters and buffers (``get_memory_footprint`` when the model has it)."""
    footprint = getattr(model, "get_memory_footprint", None)
    if callable(footprint):
        return int(footprint())
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover


def _human_count(count: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return str(count)


@dataclass(frozen=True)
class ModelInfo:
    """A summary of the loaded model: size, trainable share, precision, placement, memory."""

    model_id: str
    parameters: int
    trainable_parameters: int
    dtype: str
    device: str
    quantization: str
    memory_bytes: int
    adapter_type: str | None
    target_modules: tuple[str, ...] | None
    context_length: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def trainable_percent(self) -> float:
        """Trainable parameters as a percentage of all parameters."""
        return 100.0 * self.trainable_parameters / self.parameters if self.parameters else 0.0

    @property
    def bytes_per_parameter(self) -> float:
        """Memory per parameter (4 for float32, ~0.5-0.6 for 4-bit weights)."""
        return self.memory_bytes / self.parameters if self.parameters else 0.0

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs, shared by both renderings."""
        adapter = self.adapter_type or "none (full fine-tuning)"
        if self.target_modules:
            adapter += f" on {', '.join(self.target_modules)}"
        rows = [
            ("model", self.model_id),
            ("parameters", f"{_human_count(self.parameters)} ({self.parameters:,})"),
            (
                "trainable",
                f"{_human_count(self.trainable_parameters)} ({self.trainable_parameters:,}, "
                f"{self.trainable_percent:.2f}%)",
            ),
            ("adapter", adapter),
            ("dtype", self.dtype),
            ("device", self.device),
            ("quantization", self.quantization),
            ("bytes/parameter", f"{self.bytes_per_parameter:.2f}"),
            ("memory", _human_bytes(self.memory_bytes)),
            ("context length", f"{self.context_length:,} tokens"),
        ]
        rows.extend(("note", note) for note in self.notes)
        return rows

    def __repr__(self) -> str:
        width = max(len(label) for label, _ in self.rows())
        return "\n".join(f"{label:<{width}}  {value}" for label, value in self.rows())

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
            f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
            for label, value in self.rows()
        )
        return f"<table class='llm-magic-model-info'>{body}</table>"


def model_info(loaded: LoadedModel) -> ModelInfo:
    """Summarise a ``LoadedModel``."""
    total, trainable = count_parameters(loaded.model)
    return ModelInfo(
        model_id=loaded.base_model_id,
        parameters=total,
        trainable_parameters=trainable,
        dtype=str(loaded.dtype).replace("torch.", ""),
        device=str(loaded.device),
        quantization=loaded.quantization,
        memory_bytes=_memory_bytes(loaded.base),
        adapter_type=loaded.adapter_type,
        target_modules=tuple(loaded.target_modules) if loaded.target_modules else None,
        context_length=loaded.context_length,
        notes=tuple(loaded.notes),
    )
