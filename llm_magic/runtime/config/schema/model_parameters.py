"""``model_parameters``: RoPE scaling and NEFTune noise."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from llm_magic.runtime.config.schema.base import F, ConfigModel


class RopeScaling(ConfigModel):
    """Stretch the rotary position embeddings to a longer context."""

    rope_type: Literal["linear", "dynamic"] = F(
        ..., "Scaling method.",
        diverges="Ludwig strips the old spelling `type:` and then fails; we accept `type` as an alias.")
    factor: float = F(..., "Context stretch factor; must be > 1.", gt=1)

    @model_validator(mode="before")
    @classmethod
    def _type_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" in data and "rope_type" not in data:
            data = {("rope_type" if k == "type" else k): v for k, v in data.items()}
        return data


class ModelParameters(ConfigModel):
    """Changes to the base model's behaviour."""

    rope_scaling: RopeScaling | None = F(None, "RoPE scaling; both rope_type and factor are required.")
    neftune_noise_alpha: int | None = F(0, "NEFTune embedding noise during training; 0 = off (5-10 typical).",
                                        ge=0)
