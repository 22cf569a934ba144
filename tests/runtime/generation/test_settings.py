"""merge_settings / hf_kwargs: per-call overrides validated by the config's generation model."""
from __future__ import annotations

import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.generation.settings import hf_kwargs, merge_settings


@pytest.fixture
def generation():
    from llm_magic.runtime.config.schema.generation import GenerationConfig

    return GenerationConfig(temperature=0.3, max_new_tokens=16)


def test_overrides_merge_over_config_values(generation):
    merged = merge_settings(generation, {"top_p": 0.9, "num_beams": 2})
    assert merged.top_p == 0.9 and merged.num_beams == 2
    assert merged.temperature == 0.3 and merged.max_new_tokens == 16
    assert generation.top_p == 1.0, "the config's own settings are not modified"


def test_out_of_range_value_names_the_flag(generation):
    with pytest.raises(LlmMagicError) as err:
        merge_settings(generation, {"top_p": 1.5}, name_format=lambda k: f"--{k}")
    assert "--top_p" in str(err.value) and "1.5" in str(err.value)


def test_wrong_type_names_the_key(generation):
    with pytest.raises(LlmMagicError, match="max_new_tokens"):
        merge_settings(generation, {"max_new_tokens": "lots"})


def test_unknown_key_suggests_the_closest(generation):
    with pytest.raises(LlmMagicError) as err:
        merge_settings(generation, {"temprature": 0.5}, name_format=lambda k: f"--{k}")
    message = str(err.value)
    assert "--temprature" in message and "--temperature" in message


def test_hf_kwargs_drop_sampling_knobs_when_greedy_and_set_pad(generation):
    class Tok:
        pad_token_id = 2

    greedy = hf_kwargs(merge_settings(generation, {"do_sample": False}), Tok())
    assert "temperature" not in greedy and "top_k" not in greedy
    assert greedy["pad_token_id"] == 2 and greedy["max_new_tokens"] == 16 and "max_length" not in greedy
    sampled = hf_kwargs(generation, Tok())
    assert sampled["temperature"] == 0.3 and sampled["do_sample"] is True


# ------------------------------------------------------------------------------ sequence_bias
def _bias_config(model_dir, bias=None):
    cfg = {"model_type": "llm", "base_model": str(model_dir),
           "input_features": [{"name": "q", "type": "text"}], "output_features": [{"name": "a", "type": "text"}],
           "generation": {"max_new_tokens": 6, "do_sample": False}}
    if bias is not None:
        cfg["generation"]["sequence_bias"] = bias
    return cfg


def _word_tokens(tokenizer, text):
    """The tokens of ``text`` that are a word and map back to themselves (usable as a bias key)."""
    out = []
    for token_id in tokenizer(text, add_special_tokens=False)["input_ids"]:
        word = tokenizer.decode([token_id])
        if word.strip().isalpha() and tokenizer(word, add_special_tokens=False)["input_ids"] == [token_id]:
            out.append(word)
    return out


def test_sequence_bias_text_becomes_token_ids(tiny_lm):
    from llm_magic.runtime.config.schema.generation import GenerationConfig

    _, tokenizer = tiny_lm
    kwargs = hf_kwargs(GenerationConfig(sequence_bias={" the cat": -5, "the": 2.0}), tokenizer)
    ids = tokenizer(" the cat", add_special_tokens=False)["input_ids"]
    assert kwargs["sequence_bias"] == [[ids, -5.0], [tokenizer("the", add_special_tokens=False)["input_ids"], 2.0]]
    with pytest.raises(LlmMagicError, match="generation.sequence_bias.*''"):
        hf_kwargs(GenerationConfig(sequence_bias={"": 1.0}), tokenizer)


def test_negative_sequence_bias_stops_the_word_and_positive_forces_it(session, tiny_dir):
    session.set_config(_bias_config(tiny_dir))
    tokenizer = session.load_model().tokenizer
    baseline = session.generate("the cat sat on", raw=True)
    word = _word_tokens(tokenizer, baseline.text)[0]  # the random tiny model says e.g. " qu"

    session.set_config(_bias_config(tiny_dir, {word: -100.0}))
    assert word not in session.generate("the cat sat on", raw=True).text

    other = next(w for w in (" cat", " dog", " sun") if w not in baseline.text)
    assert _word_tokens(tokenizer, other) == [other]  # one token, so every step can complete it
    session.set_config(_bias_config(tiny_dir, {other: 100.0}))
    assert session.generate("the cat sat on", raw=True).text == other * 6
