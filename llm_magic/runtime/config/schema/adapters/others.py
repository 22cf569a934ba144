"""The non-LoRA adapter kinds Ludwig registers: scaling, Kronecker, Fourier, orthogonal, ...

Each class lists only its own fields; the field names are Ludwig's, and ``peft_renames`` maps them
to PEFT's where they differ.
"""
from __future__ import annotations

from typing import Literal

from llm_magic.runtime.config.schema.adapters.base import AdapterBase, register
from llm_magic.runtime.config.schema.base import F

# What null means is decided at load (runtime/models/targets.py), not by PEFT's per-architecture table.
_TARGETS_HELP = ("Module names to adapt; null = every attention and MLP projection in the loaded model's "
                 "decoder blocks.")


@register
class IA3Adapter(AdapterBase):
    """(IA)^3: learns per-channel scaling vectors for keys, values and feed-forward activations."""

    peft_class = "IA3Config"

    type: Literal["ia3"] = F("ia3", "Adapter kind.")
    target_modules: list[str] | None = F(None, _TARGETS_HELP)
    feedforward_modules: list[str] | None = F(
        None, "Modules treated as feed-forward (scaled on input); must be a subset of target_modules.")
    fan_in_fan_out: bool = F(False, "True for Conv1D-style weights (GPT-2).")
    modules_to_save: list[str] | None = F(None, "Extra modules trained fully and saved.")
    init_ia3_weights: bool = F(True, "Initialise the scaling vectors to ones (adapter starts as a no-op).")


@register
class VeraAdapter(AdapterBase):
    """VeRA: shared frozen random matrices with small trainable scaling vectors."""

    peft_class = "VeraConfig"

    type: Literal["vera"] = F("vera", "Adapter kind.")
    r: int = F(256, "Rank of the shared random matrices.", gt=0)
    target_modules: list[str] | None = F(None, _TARGETS_HELP)
    projection_prng_key: int = F(0, "Seed of the shared random projections.", ge=0)


@register
class LoHaAdapter(AdapterBase):
    """LoHa: low-rank Hadamard product update."""

    peft_class = "LoHaConfig"

    type: Literal["loha"] = F("loha", "Adapter kind.")
    r: int = F(8, "Rank.", gt=0)
    alpha: float = F(8, "Scaling numerator.")
    target_modules: list[str] | None = F(None, _TARGETS_HELP)


@register
class LoKrAdapter(AdapterBase):
    """LoKr: low-rank Kronecker product update."""

    peft_class = "LoKrConfig"

    type: Literal["lokr"] = F("lokr", "Adapter kind.")
    r: int = F(8, "Rank.", gt=0)
    alpha: float = F(8, "Scaling numerator.")
    target_modules: list[str] | None = F(None, _TARGETS_HELP)


@register
class FourierFTAdapter(AdapterBase):
    """FourierFT: learns a few spectral coefficients of the weight update."""

    peft_class = "FourierFTConfig"

    type: Literal["fourierft"] = F("fourierft", "Adapter kind.")
    n_frequency: int = F(1000, "Number of learnable frequencies.", gt=0)
    scaling: float = F(150.0, "Scaling of the update.")
    target_modules: list[str] | None = F(None, _TARGETS_HELP)


@register
class BoftAdapter(AdapterBase):
    """BOFT: orthogonal butterfly-factorised update."""

    peft_class = "BOFTConfig"

    type: Literal["boft"] = F("boft", "Adapter kind.")
    boft_block_size: int = F(4, "Block size.", gt=0)
    boft_n_butterfly_factor: int = F(1, "Number of butterfly factors.", gt=0)
    boft_dropout: float = F(0.05, "Multiplicative dropout.", ge=0, le=1)
    target_modules: list[str] | None = F(None, _TARGETS_HELP)


@register
class TinyLoraAdapter(AdapterBase):
    """TinyLoRA: LoRA through fixed random projections with a tiny trainable vector."""

    peft_class = "TinyLoraConfig"

    type: Literal["tinylora"] = F("tinylora", "Adapter kind.")
    r: int = F(2, "Rank.", gt=0)
    u: int = F(64, "Size of the trainable vector.", gt=0)
    weight_tying: float = F(0.0, "Fraction of layers sharing the trainable vector.", ge=0, le=1)
    projection_seed: int = F(42, "Seed of the random projections.", ge=0)
    save_projection: bool = F(True, "Save the projections in the checkpoint.")
    tinylora_dropout: float = F(0.0, "Dropout.", ge=0, le=1)
    target_modules: list[str] | None = F(None, _TARGETS_HELP)


@register
class C3AAdapter(AdapterBase):
    """C3A: circular-convolution adapter."""

    peft_class = "C3AConfig"
    peft_renames = {"bias_type": "bias"}

    type: Literal["c3a"] = F("c3a", "Adapter kind.")
    block_size: int = F(256, "Block size; must divide the in/out sizes of every targeted layer.", gt=0)
    target_modules: list[str] | None = F(None, _TARGETS_HELP)
    bias_type: Literal["none", "all", "c3a_only"] = F("none", "Which biases to train (PEFT's `bias`).")


@register
class OftAdapter(AdapterBase):
    """OFT: orthogonal fine-tuning (block-diagonal orthogonal rotation of weights)."""

    peft_class = "OFTConfig"

    type: Literal["oft"] = F("oft", "Adapter kind.")
    r: int = F(0, "Number of blocks; 0 = derived from oft_block_size. Set exactly one of r / oft_block_size.",
               ge=0)
    oft_block_size: int = F(
        32, "Block size; set it to 0 to use `r` instead.", ge=0,
        diverges="Ludwig requires oft_block_size > 0 (so `r` is unusable); we allow 0 to select `r`.")
    module_dropout: float = F(0.0, "Probability of disabling a block during training.", ge=0, le=1)
    target_modules: list[str] | None = F(None, _TARGETS_HELP)
    coft: bool = F(False, "Constrained OFT.")
    eps: float = F(6e-5, "COFT control strength (used only with coft).", ge=0)


@register
class HraAdapter(AdapterBase):
    """HRA: Householder reflection adaptation."""

    peft_class = "HRAConfig"

    type: Literal["hra"] = F("hra", "Adapter kind.")
    r: int = F(8, "Number of Householder reflections.", gt=0)
    apply_GS: bool = F(False, "Apply Gram-Schmidt orthogonalisation.")
    target_modules: list[str] | None = F(None, _TARGETS_HELP)


@register
class WaveFTAdapter(AdapterBase):
    """WaveFT: learns sparse wavelet coefficients of the weight update."""

    peft_class = "WaveFTConfig"

    type: Literal["waveft"] = F("waveft", "Adapter kind.")
    n_frequency: int = F(2592, "Number of learnable wavelet coefficients.", gt=0)
    scaling: float = F(25.0, "Scaling of the update.", ge=0)
    wavelet_family: Literal["db1", "db2", "db3", "haar", "sym2", "coif1"] = F("db1", "Wavelet family.")
    target_modules: list[str] | None = F(None, _TARGETS_HELP)


@register
class LNTuningAdapter(AdapterBase):
    """LN tuning: trains only the LayerNorm/RMSNorm layers."""

    peft_class = "LNTuningConfig"

    type: Literal["ln_tuning"] = F("ln_tuning", "Adapter kind.")
    target_modules: list[str] | None = F(None, "Norm modules to tune; null = every LayerNorm/RMSNorm in the decoder blocks.")


@register
class VBLoraAdapter(AdapterBase):
    """VB-LoRA: LoRA built from a shared vector bank."""

    peft_class = "VBLoRAConfig"

    type: Literal["vblora"] = F("vblora", "Adapter kind.")
    r: int = F(4, "Rank.", gt=0)
    num_vectors: int = F(256, "Vectors in the shared bank.", gt=0)
    vector_length: int = F(256, "Length of each bank vector; must divide the hidden sizes.", gt=0)
    topk: int = F(2, "Bank vectors mixed per sub-vector.", gt=0)
    vblora_dropout: float = F(0.0, "Dropout.", ge=0, le=1)
    save_only_topk_weights: bool = F(False, "Save only the top-k logits (smaller, inference only).")
    target_modules: list[str] | None = F(None, _TARGETS_HELP)
