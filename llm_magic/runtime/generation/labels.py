"""Category outputs: map generated text to a label (Ludwig's ``category_extractor``
decoder: ``match`` rules, ``fallback_label``), optionally constrained.

Matching follows Ludwig's ``category_extractor``: the generated text is lower-cased, the
``match`` rules are tried in insertion order, the first hit wins, and no hit gives the
``fallback_label``. Rule types: ``contains`` (substring), ``regex`` (``re.search``) and
``json_schema`` (the answer parsed as JSON; its ``label``/``value``/``category``/first value
compared with the rule's value).

Deliberate difference from Ludwig: we compare case-insensitively on *both* sides. Ludwig
lower-cases only the output, so a rule value with capitals (``contains: Positive``) silently
never matches there; here it matches "positive", "Positive" and "POSITIVE" alike. Regexes are
searched with ``re.IGNORECASE`` rather than lower-cased, so escapes like ``\\D`` keep their meaning.

``constrain_to_vocabulary: true`` lets generation follow only the token sequences of known
labels, through HF's ``prefix_allowed_tokens_fn``. Unlike Ludwig, EOS is allowed only once a
label is complete, so the answer is always a whole label.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.config.schema.base import block_value

if TYPE_CHECKING:  # pragma: no cover - types only
    from transformers import PreTrainedTokenizerBase

__all__ = ["category_labels", "label_paths", "label_prefix_fn", "map_to_label", "match_rules"]

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*|\s*```\s*$")


def match_rules(output_feature: Any) -> list[tuple[str, str, str]]:
    """The ``(label, type, value)`` match rules of a category output, in insertion order.

    Without a ``decoder.match`` block every vocabulary label is its own ``contains`` rule.
    """
    decoder = block_value(output_feature, "decoder")
    match = block_value(decoder, "match") or {}
    rules = []
    for label, rule in dict(match).items():
        rule_type = block_value(rule, "type", "contains")
        value = block_value(rule, "value", label)
        rules.append((str(label), str(rule_type), str(value)))
    if not rules:
        vocab = block_value(block_value(output_feature, "preprocessing"), "vocab") or []
        rules = [(str(label), "contains", str(label)) for label in vocab]
    return rules


def category_labels(output_feature: Any) -> list[str]:
    """Every label a category output can produce: match labels, vocabulary, then the fallback."""
    labels: list[str] = []
    vocab = block_value(block_value(output_feature, "preprocessing"), "vocab") or []
    for label in [r[0] for r in match_rules(output_feature)] + [str(v) for v in vocab]:
        if label not in labels:
            labels.append(label)
    fallback = _fallback(output_feature)
    if fallback and fallback not in labels:
        labels.append(fallback)
    return labels


def _fallback(output_feature: Any) -> str:
    decoder = block_value(output_feature, "decoder")
    return str(
        block_value(decoder, "fallback_label")
        or block_value(block_value(output_feature, "preprocessing"), "fallback_label")
        or ""
    )


def map_to_label(text: str, output_feature: Any) -> str:
    """The label for generated ``text`` under a category output's match rules (``decoder.match``).

    ``output_feature`` is the config's output feature (pydantic object or dict). Rules are tried
    in insertion order, case-insensitively on both sides; no hit returns the fallback label
    (``decoder.fallback_label``, else ``preprocessing.fallback_label``, else "").
    """
    lowered = text.lower()
    for label, rule_type, value in match_rules(output_feature):
        if rule_type == "contains":
            hit = value.lower() in lowered
        elif rule_type == "regex":
            try:
                hit = re.search(value, lowered, flags=re.IGNORECASE) is not None
            except re.error as exc:
                raise LlmMagicError(
                    f"output_features[0].decoder.match.{label}: the regex {value!r} is invalid "
                    f"({exc}). Fix the pattern or use type: contains."
                ) from None
        elif rule_type == "json_schema":
            hit = _json_answer(lowered) == value.lower()
        else:
            raise LlmMagicError(
                f"output_features[0].decoder.match.{label}.type: {rule_type!r} is not a match type; "
                "use contains, regex or json_schema."
            )
        if hit:
            return label
    return _fallback(output_feature)


def _json_answer(text: str) -> str | None:
    """The answer inside a JSON reply (fences stripped), lower-cased; None if it is not JSON."""
    try:
        data = json.loads(_FENCE.sub("", text.strip()))
    except (ValueError, TypeError):
        return None
    if isinstance(data, dict):
        for key in ("label", "value", "category"):
            if key in data:
                data = data[key]
                break
        else:
            data = next(iter(data.values()), None)
    return None if data is None else str(data).lower()


def label_paths(tokenizer: PreTrainedTokenizerBase, labels: list[str]) -> set[tuple[int, ...]]:
    """The token sequences that spell each label, with and without a leading space (BPE
    tokenizers spell " positive" differently from "positive")."""
    paths = set()
    for label in labels:
        for variant in (label, " " + label):
            ids = tokenizer(variant, add_special_tokens=False)["input_ids"]
            if ids:
                paths.add(tuple(ids))
    return paths


def label_prefix_fn(tokenizer: PreTrainedTokenizerBase, labels: list[str],
                    prompt_len: int) -> Callable[[int, Any], list[int]]:
    """A ``prefix_allowed_tokens_fn`` that keeps generation on the token paths of ``labels``.

    ``prompt_len`` is the (left-padded) prompt width of the batch, so ``input_ids[prompt_len:]``
    is what was generated. EOS is allowed once a label is complete, or when off every path.
    """
    eos = tokenizer.eos_token_id
    paths = label_paths(tokenizer, labels)

    def allowed(batch_id: int, input_ids: Any) -> list[int]:
        done = tuple(input_ids[prompt_len:].tolist())
        next_ids = {p[len(done)] for p in paths if len(p) > len(done) and p[: len(done)] == done}
        # EOS only once a label is complete (Ludwig allows it at any step, which lets a model
        # stop half-way through a label), or when nothing else fits (e.g. after padding).
        if done in paths or not next_ids:
            next_ids.add(eos)
        return sorted(next_ids)

    return allowed
