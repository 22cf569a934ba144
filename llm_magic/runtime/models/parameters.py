"""``model_parameters``: RoPE scaling (applied to the HF config before loading) and NEFTune.

RoPE scaling is merged into the model config's existing rotary settings, keeping keys such as
``rope_theta`` and ``partial_rotary_factor``. transformers 5 keeps them in ``rope_parameters``,
older releases in ``rope_scaling``; both are handled. NEFTune reuses transformers' own forward
hook on the input embeddings, which adds noise only in training mode.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from transformers.integrations.neftune import neftune_post_forward_hook

from llm_magic.errors import LlmMagicError

if TYPE_CHECKING:  # pragma: no cover - types only
    from torch.utils.hooks import RemovableHandle
    from transformers import PretrainedConfig, PreTrainedModel

    from llm_magic.runtime.config.schema.model_parameters import ModelParameters

__all__ = ["apply_rope_scaling", "attach_neftune", "context_length", "rope_settings"]

_ROPE_TYPES = ("linear", "dynamic")


def rope_settings(model_parameters: ModelParameters | None) -> dict | None:
    """``{"rope_type": ..., "factor": ...}`` from ``model_parameters.rope_scaling``, or None."""
    rope = model_parameters.rope_scaling if model_parameters is not None else None
    if rope is None:
        return None
    # The schema checks both already (and reads Ludwig's old ``type`` key as ``rope_type``);
    # checked again for a config built with ``model_construct``, which skips validation.
    rope_type, factor = rope.rope_type, rope.factor
    if rope_type not in _ROPE_TYPES:
        raise LlmMagicError(
            f"model_parameters.rope_scaling.rope_type: {rope_type!r} is not supported; use one of "
            f"{', '.join(_ROPE_TYPES)}."
        )
    if factor is None or float(factor) <= 1.0:
        raise LlmMagicError(
            f"model_parameters.rope_scaling.factor: {factor!r} must be a number above 1 (e.g. 2.0 "
            "to double the context length)."
        )
    return {"rope_type": rope_type, "factor": float(factor)}


def apply_rope_scaling(hf_config: PretrainedConfig, model_parameters: ModelParameters | None,
                       model_id: str) -> bool:
    """Merge the configured RoPE scaling into ``hf_config`` in place; True if anything changed."""
    settings = rope_settings(model_parameters)
    if settings is None:
        return False
    if hasattr(hf_config, "rope_parameters") and isinstance(hf_config.rope_parameters, dict):
        hf_config.rope_parameters = {**hf_config.rope_parameters, **settings}
        return True
    if hasattr(hf_config, "rope_scaling"):  # transformers < 5
        hf_config.rope_scaling = {**(hf_config.rope_scaling or {}), **settings}
        return True
    raise LlmMagicError(
        f"model_parameters.rope_scaling: {model_id} ({hf_config.model_type}) does not use rotary "
        "position embeddings, so RoPE scaling cannot apply. Remove model_parameters.rope_scaling."
    )


def context_length(hf_config: PretrainedConfig) -> int:
    """The model's context length in tokens (read from the model config), times the RoPE scaling factor if any.

    First present of ``max_sequence_length``, ``max_position_embeddings``, ``n_positions``;
    2048 when none is. Unlike Ludwig, a RoPE scaling factor counts: stretching the context is
    what it is for.
    """
    base = None
    for name in ("max_sequence_length", "max_position_embeddings", "n_positions"):
        value = getattr(hf_config, name, None)
        if isinstance(value, int) and value > 0:
            base = value
            break
    if base is None:
        return 2048
    rope = getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None)
    if isinstance(rope, dict) and rope.get("rope_type") in _ROPE_TYPES and rope.get("factor"):
        return int(base * float(rope["factor"]))
    return base


def attach_neftune(model: PreTrainedModel, model_parameters: ModelParameters | None) -> RemovableHandle | None:
    """Add NEFTune noise to ``model``'s input embeddings (training mode only); return the hook handle.

    Returns None when ``neftune_noise_alpha`` is unset or 0. Remove with ``handle.remove()``.
    """
    alpha = (model_parameters.neftune_noise_alpha if model_parameters is not None else 0) or 0
    if not alpha:
        return None

    embeddings = model.get_input_embeddings()
    # transformers' hook reads the strength from the module (its documented usage).
    embeddings.neftune_noise_alpha = float(alpha)
    return embeddings.register_forward_hook(neftune_post_forward_hook)
