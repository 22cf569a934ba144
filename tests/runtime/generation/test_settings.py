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
