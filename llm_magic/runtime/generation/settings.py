"""Per-call generation settings: the config's ``generation`` block with overrides merged over it.

The override names are the fields of the config's own generation model (Ludwig's ``generation:`` keys), so
every key a config accepts can be overridden and nothing else can; the merged values are
validated by that same pydantic model, so ranges and types are checked exactly as in a config.
"""
from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, Callable

from pydantic import ValidationError

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.config import LLMConfig

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.config.schema.generation import GenerationConfig
    from transformers import PreTrainedTokenizerBase


__all__ = [
    "SAMPLING_KEYS",
    "generation_fields",
    "generation_model_class",
    "hf_kwargs",
    "merge_settings",
    "sequence_bias_ids",
]

#: Keys that only matter when sampling; dropped from greedy/beam runs so HF does not warn.
SAMPLING_KEYS = ("temperature", "top_k", "top_p", "typical_p", "epsilon_cutoff", "eta_cutoff")


def generation_model_class() -> type:
    """The pydantic class of ``LLMConfig.generation`` (the config module owns it)."""
    annotation = LLMConfig.model_fields["generation"].annotation
    # Unwrap Optional[...] / Annotated[...] to the model class itself.
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
            return candidate
    raise TypeError(f"LLMConfig.generation is not a pydantic model: {annotation!r}")


def generation_fields(model_cls: type) -> dict[str, Any]:
    """Field name -> pydantic ``FieldInfo`` of a generation model class, in declaration order."""
    return dict(model_cls.model_fields)


def merge_settings(
    current: GenerationConfig,
    overrides: dict[str, Any],
    name_format: Callable[[str], str] = str,
) -> GenerationConfig:
    """Validate ``overrides`` over the generation settings ``current`` and return a new model.

    ``current`` is a generation model instance (``config.generation``); it is not modified.
    Unknown keys and invalid values raise :class:`LlmMagicError` naming each offending key as
    ``name_format(key)`` (the magics pass ``lambda k: f"--{k}"`` so the flag is named).
    """
    model_cls = type(current)
    fields = generation_fields(model_cls)
    unknown = [key for key in overrides if key not in fields]
    if unknown:
        raise LlmMagicError("\n".join(_unknown_message(key, fields, name_format) for key in unknown))
    if not overrides:
        return current
    merged = {**current.model_dump(), **overrides}
    try:
        return model_cls.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err.get("loc") else ""
            where = name_format(key) if key in fields else "generation"
            value = f" (got {overrides[key]!r})" if key in overrides else ""
            problems.append(f"{where}{value}: {err['msg']}")
        raise LlmMagicError("Invalid generation settings:\n  - " + "\n  - ".join(problems)) from None


def _unknown_message(key: str, fields: dict[str, Any], name_format: Callable[[str], str]) -> str:
    close = difflib.get_close_matches(key, list(fields), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(name_format(c) for c in close)}?" if close else ""
    return (
        f"{name_format(key)}: not a generation setting.{hint} Known settings are the keys of the "
        f"config's generation section: {', '.join(fields)}."
    )


def hf_kwargs(settings: GenerationConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> dict[str, Any]:
    """``model.generate`` keyword arguments for validated generation settings.

    Starts from ``settings.to_hf_kwargs()`` (the config's own translation), fills the pad token
    from the tokenizer (Ludwig too always overwrites ``generation.pad_token_id`` with it), turns
    ``sequence_bias`` text into token ids, lets ``max_new_tokens`` win over ``max_length``, and
    drops sampling-only knobs from greedy runs so HF does not warn about them.
    """
    kwargs = dict(settings.to_hf_kwargs())
    if tokenizer is not None and tokenizer.pad_token_id is not None:
        kwargs["pad_token_id"] = tokenizer.pad_token_id
    if kwargs.get("sequence_bias"):
        kwargs["sequence_bias"] = sequence_bias_ids(kwargs["sequence_bias"], tokenizer)
    if kwargs.get("max_new_tokens") is not None:
        kwargs.pop("max_length", None)
    if not kwargs.get("do_sample", False):
        for key in SAMPLING_KEYS:
            kwargs.pop(key, None)
    return {key: value for key, value in kwargs.items() if value is not None}


def sequence_bias_ids(bias: dict[str, float], tokenizer: PreTrainedTokenizerBase) -> list[list[Any]]:
    """``generation.sequence_bias`` (text -> bias) as transformers wants it: ``[[token ids], bias]`` pairs.

    Each text is tokenized as written, without special tokens, so ``" Paris"`` (leading space)
    and ``"Paris"`` are different sequences, as they are for the model. The list form is the one
    transformers' ``SequenceBiasLogitsProcessor`` documents (and it stays JSON-serializable).
    """
    if tokenizer is None:
        raise LlmMagicError("generation.sequence_bias needs the model's tokenizer to turn its texts into "
                            "token ids; load a model first (%llm_load).")
    pairs = []
    for text, value in bias.items():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise LlmMagicError(f"generation.sequence_bias: {text!r} has no tokens; use a non-empty text "
                                "as the key (e.g. ' Paris': -10.0).")
        pairs.append([[int(i) for i in ids], float(value)])
    return pairs
