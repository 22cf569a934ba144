"""map_to_label (Ludwig's matching, both sides lower-cased) and the constrain_to_vocabulary prefix function."""
from __future__ import annotations

import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.generation.labels import category_labels, label_prefix_fn, map_to_label


def feature(match=None, vocab=None, fallback="unknown"):
    return {
        "name": "sentiment",
        "type": "category",
        "decoder": {"type": "category_extractor", "match": match, "fallback_label": fallback},
        "preprocessing": {"vocab": vocab, "fallback_label": fallback},
    }


def test_first_matching_rule_in_insertion_order_wins():
    f = feature({"negative": {"type": "contains", "value": "not good"},
                 "positive": {"type": "contains", "value": "good"}})
    assert map_to_label("It is not good at all", f) == "negative"
    assert map_to_label("Good!", f) == "positive"
    # Reversed order: "good" now matches first.
    g = feature({"positive": {"type": "contains", "value": "good"},
                 "negative": {"type": "contains", "value": "not good"}})
    assert map_to_label("It is not good at all", g) == "positive"


def test_no_match_gives_fallback_label():
    f = feature({"positive": {"type": "contains", "value": "good"}}, fallback="neutral")
    assert map_to_label("meh", f) == "neutral"


def test_values_with_capitals_match_case_insensitively():
    # Ludwig lower-cases only the output, so "Positive" would never match there; we match.
    f = feature({"positive": {"type": "contains", "value": "Positive"}})
    assert map_to_label("POSITIVE review", f) == "positive"
    assert map_to_label("positive", f) == "positive"


def test_regex_rule_keeps_escape_meaning():
    f = feature({"number": {"type": "regex", "value": r"\d+"}, "word": {"type": "regex", "value": r"^\D+$"}})
    assert map_to_label("Answer: 42", f) == "number"
    assert map_to_label("No Digits Here", f) == "word"


def test_json_schema_rule_reads_label_field_with_fences():
    f = feature({"spam": {"type": "json_schema", "value": "Spam"}, "ham": {"type": "json_schema", "value": "ham"}})
    assert map_to_label('```json\n{"label": "SPAM"}\n```', f) == "spam"
    assert map_to_label('{"category": "ham", "x": 1}', f) == "ham"
    assert map_to_label('{"answer": "ham"}', f) == "ham"  # first value of the object
    assert map_to_label("not json", f) == "unknown"


def test_vocab_becomes_contains_rules_without_match():
    f = feature(None, vocab=["positive", "negative"])
    assert map_to_label("negative, clearly", f) == "negative"
    assert category_labels(f) == ["positive", "negative", "unknown"]


def test_invalid_regex_names_the_label():
    f = feature({"broken": {"type": "regex", "value": "(unclosed"}})
    with pytest.raises(LlmMagicError, match="match.broken"):
        map_to_label("x", f)


def test_works_with_pydantic_style_objects():
    from types import SimpleNamespace as NS

    f = NS(decoder=NS(match={"yes": NS(type="contains", value="yes")}, fallback_label=None),
           preprocessing=NS(vocab=None, fallback_label="no"))
    assert map_to_label("Yes.", f) == "yes"
    assert map_to_label("nope", f) == "no"


def test_prefix_fn_only_allows_label_token_paths(tiny_lm):
    import torch

    _, tok = tiny_lm
    labels = ["positive", "negative"]
    prompt = tok("Review:", return_tensors="pt")["input_ids"][0]
    fn = label_prefix_fn(tok, labels, prompt_len=len(prompt))
    first = set(fn(0, prompt))
    starts = {tok(v, add_special_tokens=False)["input_ids"][0] for lab in labels for v in (lab, " " + lab)}
    assert first == starts, "no EOS before a label is complete"
    # Follow "positive" to its end: then only EOS is allowed.
    ids = tok("positive", add_special_tokens=False)["input_ids"]
    done = torch.cat([prompt, torch.tensor(ids)])
    assert fn(0, done) == [tok.eos_token_id]
