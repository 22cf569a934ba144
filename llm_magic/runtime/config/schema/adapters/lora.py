"""LoRA and AdaLoRA: low-rank updates of chosen linear layers (the LoRA family can be merged)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from llm_magic.runtime.config.schema.adapters.base import AdapterBase, register
from llm_magic.runtime.config.schema.base import F, ConfigModel

InitLoraWeights = Literal["default", "gaussian", "eva", "olora", "pissa", "corda", "loftq", "orthogonal"]


class EvaConfig(ConfigModel):
    """Explained-variance (EVA) initialisation settings (``init_lora_weights: eva``)."""

    rho: float = F(2.0, "Max rank redistribution factor.", ge=1.0)
    tau: float = F(0.99, "Cosine-similarity threshold for early stopping of the SVD.", ge=0, le=1)
    use_label_mask: bool = F(True, "Ignore label-masked positions when collecting activations.")
    label_mask_value: int = F(-100, "Label value that marks ignored positions.")
    whiten: bool = F(False, "Whiten the singular vectors.")
    adjust_scaling_factors: bool = F(True, "Adjust alpha so scaling stays constant after rank redistribution.")


class LoftQConfig(ConfigModel):
    """LoftQ initialisation settings (``init_lora_weights: loftq``)."""

    loftq_bits: Literal[2, 4, 8] = F(4, "Quantisation bits used by LoftQ.")
    loftq_iter: int = F(1, "Alternating optimisation steps.", gt=0)


@register
class LoraAdapter(AdapterBase):
    """LoRA: trains two small matrices per targeted layer (rank ``r``)."""

    peft_class = "LoraConfig"
    peft_renames = {"alpha": "lora_alpha", "dropout": "lora_dropout", "bias_type": "bias"}
    not_for_peft = frozenset({"loraplus_lr_ratio"})
    can_merge = True

    type: Literal["lora"] = F("lora", "Adapter kind.")
    r: int = F(8, "Rank of the update matrices.", gt=0)
    alpha: int | None = F(None, "Scaling numerator (update scaled by alpha/r); null = 2*r.", gt=0)
    dropout: float = F(0.05, "Dropout on the LoRA input.", ge=0, le=1)
    bias_type: Literal["none", "all", "lora_only"] = F(
        "none", "Which biases to train (PEFT's `bias`).")
    target_modules: list[str] | None = F(
        None, "Module names to adapt; null = every attention and MLP projection in the loaded model's "
              "decoder blocks.",
        diverges="Ludwig/PEFT default to a per-architecture list, `q_proj, v_proj` for Llama.")
    use_rslora: bool = F(False, "Rank-stabilised scaling alpha/sqrt(r).")
    use_dora: bool = F(False, "Weight-decomposed LoRA (DoRA).")
    loraplus_lr_ratio: float | None = F(None, "LoRA+: learning rate of the B matrices = lr * ratio.", gt=0)
    init_lora_weights: InitLoraWeights = F(
        "default", "Initialisation; `default` = PEFT's True (B=0, adapter starts as a no-op).")
    eva_config: EvaConfig | None = F(None, "Settings for `init_lora_weights: eva` (required then).")
    loftq_config: LoftQConfig | None = F(None, "Settings for `init_lora_weights: loftq` (required then).")
    rank_pattern: dict[str, int] | None = F(None, "Per-module rank overrides (name or regex -> r).")
    alpha_pattern: dict[str, int | float] | None = F(None, "Per-module alpha overrides.")
    layer_replication: list[tuple[int, int]] | None = F(
        None, "Layer ranges [start, end) to stack (PEFT layer replication).")

    @field_validator("init_lora_weights", mode="before")
    @classmethod
    def _init_bool(cls, v: Any) -> Any:
        # PEFT spells the default `true`; accept it (and `false`, PEFT's random init, is not Ludwig's).
        return "default" if v is True else v

    @property
    def effective_alpha(self) -> int:
        """``alpha``, or Ludwig's default 2*r when unset."""
        return self.alpha if self.alpha is not None else 2 * self.r

    def peft_kwargs(self, target_modules: list[str] | None) -> dict[str, Any]:
        """LoRA fields mapped to ``peft.LoraConfig`` (sub-configs become PEFT objects)."""
        # lazy: peft (and torch) load on first use (importing llm_magic stays cheap)
        import peft

        kwargs = super().peft_kwargs(target_modules)
        kwargs["lora_alpha"] = self.effective_alpha
        init = self.init_lora_weights
        kwargs["init_lora_weights"] = True if init == "default" else init
        kwargs["eva_config"] = peft.EvaConfig(**self.eva_config.model_dump()) if self.eva_config else None
        kwargs["loftq_config"] = self.loftq_config.model_dump() if self.loftq_config else {}
        kwargs["rank_pattern"] = dict(self.rank_pattern or {})
        kwargs["alpha_pattern"] = dict(self.alpha_pattern or {})
        if self.layer_replication is not None:
            kwargs["layer_replication"] = [tuple(pair) for pair in self.layer_replication]
        return kwargs


@register
class AdaLoraAdapter(LoraAdapter):
    """AdaLoRA: LoRA whose rank budget is re-allocated across layers during training."""

    peft_class = "AdaLoraConfig"
    peft_renames = {**LoraAdapter.peft_renames, "delta_t": "deltaT"}
    # PEFT's AdaLoRA rejects DoRA and LoftQ; Ludwig passes none of these to PEFT either.
    not_for_peft = frozenset({"loraplus_lr_ratio", "use_dora", "loftq_config", "eva_config",
                              "init_lora_weights", "use_rslora", "alpha_pattern", "layer_replication"})

    type: Literal["adalora"] = F("adalora", "Adapter kind.")  # type: ignore[assignment]
    target_r: int = F(8, "Average target rank after budget re-allocation.", gt=0)
    init_r: int = F(12, "Initial rank of every adapted layer.", gt=0)
    tinit: int = F(0, "Warm-up steps before rank pruning starts.", ge=0)
    tfinal: int = F(0, "Final fine-tuning steps after pruning stops.", ge=0)
    delta_t: int = F(1, "Steps between two budget allocations (PEFT's `deltaT`).", ge=0)
    beta1: float = F(0.85, "EMA coefficient for sensitivity smoothing.", ge=0, le=1)
    beta2: float = F(0.85, "EMA coefficient for uncertainty quantification.", ge=0, le=1)
    orth_reg_weight: float = F(0.5, "Orthogonal regularisation weight.", ge=0, le=1)
    total_step: int = F(10000, "Total training steps (PEFT requires it for the schedule).", gt=0)

    def peft_kwargs(self, target_modules: list[str] | None) -> dict[str, Any]:
        """AdaLoRA fields mapped to ``peft.AdaLoraConfig``."""
        kwargs = AdapterBase.peft_kwargs(self, target_modules)
        kwargs["lora_alpha"] = self.effective_alpha
        kwargs["rank_pattern"] = dict(self.rank_pattern) if self.rank_pattern else None
        return kwargs
