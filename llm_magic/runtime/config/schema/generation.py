"""``generation``: decoding settings, mirroring Hugging Face's ``GenerationConfig``."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from llm_magic.runtime.config.schema.base import F, ConfigModel

#: The default that Ludwig re-derives when it is left unset (see ``derive.py``).
DEFAULT_MAX_NEW_TOKENS = 32

_HUB_ONLY = ("Accepted by Ludwig; transformers 5 moved this decoding mode to a Hub repo that runs remote "
             "code, so only the default is accepted.")


class GenerationConfig(ConfigModel):
    """How text is generated at prediction/evaluation time (per-call overrides merge over this)."""

    max_new_tokens: int | None = F(
        DEFAULT_MAX_NEW_TOKENS, "Maximum tokens generated per row.", gt=0,
        diverges="Ludwig rewrites 32 (even an explicit 32) at config time; we keep any explicit value and "
                  "derive only an unset one, offline (no half-context fallback).")
    min_new_tokens: int | None = F(None, "Minimum tokens generated.", ge=0)
    max_length: int | None = F(32, "Max prompt+generated length; max_new_tokens takes precedence.", gt=0)
    min_length: int | None = F(0, "Min prompt+generated length.", ge=0)
    early_stopping: bool | Literal["never"] = F(
        False, "Beam search stopping rule.", diverges="We also accept HF's `never`.")
    max_time: float | None = F(None, "Seconds allowed per generation.", gt=0)
    do_sample: bool = F(True, "Sample (true) or greedy/beam (false).")
    num_beams: int = F(1, "Beams for beam search; 1 = none.", gt=0)
    num_beam_groups: int = F(1, "Groups for diverse beam search; only 1.", gt=0, diverges=_HUB_ONLY)
    penalty_alpha: float | None = F(None, "Contrastive-search degeneration penalty; only null/0.", ge=0,
                                    diverges=_HUB_ONLY)
    use_cache: bool = F(True, "Use the KV cache.")
    prompt_lookup_num_tokens: int | None = F(None, "Prompt-lookup speculative decoding tokens.", ge=0)
    temperature: float = F(0.1, "Sampling temperature.", ge=0)
    top_k: int = F(50, "Sample among the k most likely tokens.", gt=0)
    top_p: float = F(1.0, "Nucleus sampling mass.", ge=0, le=1)
    typical_p: float = F(1.0, "Typical-decoding mass.", ge=0, le=1)
    epsilon_cutoff: float = F(0.0, "Epsilon sampling cutoff.", ge=0, le=1)
    eta_cutoff: float = F(0.0, "Eta sampling cutoff.", ge=0, le=1)
    diversity_penalty: float = F(0.0, "Diverse beam search penalty; only 0.", ge=0, diverges=_HUB_ONLY)
    repetition_penalty: float = F(1.0, "Penalty for repeated tokens; 1 = none.", ge=0)
    encoder_repetition_penalty: float = F(1.0, "Penalty for tokens not in the input; 1 = none.", ge=0)
    length_penalty: float = F(1.0, "Beam-search length exponent.")
    no_repeat_ngram_size: int = F(0, "Forbid repeating n-grams of this size; 0 = off.", ge=0)
    bad_words_ids: list[list[int]] | None = F(None, "Token-id sequences never generated.")
    force_words_ids: list[list[int]] | list[list[list[int]]] | None = F(
        None, "Token-id sequences that must appear; only null.", diverges=_HUB_ONLY)
    renormalize_logits: bool = F(False, "Renormalise logits after processors.")
    forced_bos_token_id: int | None = F(None, "Token forced first.")
    forced_eos_token_id: int | None = F(None, "Token forced at max length.")
    remove_invalid_values: bool = F(False, "Replace nan/inf logits.")
    exponential_decay_length_penalty: tuple[int, float] | None = F(
        None, "[start_index, decay_factor]: push towards EOS after start_index tokens.",
        diverges="Ludwig types this as one float, which HF cannot use; we take HF's [start, factor] pair.")
    suppress_tokens: list[int] | None = F(None, "Token ids never generated.")
    begin_suppress_tokens: list[int] | None = F(None, "Token ids not generated first.")
    forced_decoder_ids: list[list[int]] | None = F(
        None, "[position, token id] pairs forced; only null.",
        diverges="Removed from transformers 5; only null is accepted.")
    sequence_bias: dict[str, float] | None = F(
        None, "Text -> logit bias (negative avoids it, positive favours it); each text is tokenized as "
              "written, so ' Paris' (leading space) is the word after a space.")
    guidance_scale: float | None = F(None, "Classifier-free guidance scale.", ge=0)
    pad_token_id: int | None = F(None, "Padding token id (always the tokenizer's pad id at run time).")
    bos_token_id: int | None = F(None, "Beginning-of-sequence token id.")
    eos_token_id: int | None = F(None, "End-of-sequence token id.")

    @field_validator("penalty_alpha", "num_beam_groups", "diversity_penalty", "force_words_ids",
                     "forced_decoder_ids")
    @classmethod
    def _hub_only(cls, value: Any, info: Any) -> Any:
        # transformers 5 moved contrastive, group-beam and constrained-beam search to Hub repos that
        # run remote code (refused by house rule), and dropped forced_decoder_ids: with sampling they
        # would be ignored silently, without it generate() fails. Say so up front instead.
        if info.field_name == "forced_decoder_ids" and value is not None:
            raise ValueError("forced_decoder_ids was removed from transformers 5; force the start of the "
                             "answer in prompt.template instead")
        active = value is not None and (value > 1 if info.field_name == "num_beam_groups" else
                                        bool(value) if info.field_name == "force_words_ids" else value > 0)
        if active:
            mode = {"penalty_alpha": "contrastive search", "force_words_ids": "constrained beam search"}.get(
                info.field_name, "diverse (group) beam search")
            raise ValueError(f"{mode} is no longer part of transformers (it runs code from a Hub repo, which "
                             "llm_magic never does); remove it, or use num_beams / sampling instead")
        return value

    def to_hf_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.GenerationConfig(**kw)``; None values dropped."""
        kwargs = {k: v for k, v in self.model_dump().items() if v is not None}
        if "exponential_decay_length_penalty" in kwargs:
            kwargs["exponential_decay_length_penalty"] = tuple(kwargs["exponential_decay_length_penalty"])
        if "max_new_tokens" in kwargs:
            # HF lets max_new_tokens win anyway; dropping max_length avoids its "both set" warning.
            kwargs.pop("max_length", None)
        return kwargs
