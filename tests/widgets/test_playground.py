"""The playground panel: sliders drive the next generation, YAML round-trips, text fallback."""
from __future__ import annotations

import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.generation.result import GenerationResult
from llm_magic.widgets.playground import SLIDERS, Playground


class Recorder:
    """A generate function that records what it was asked and streams a fixed answer."""

    def __init__(self):
        self.calls = []

    def __call__(self, text, settings, on_text):
        self.calls.append((text, dict(settings)))
        for end in (3, 6, 11):
            on_text("one two three"[:end])
        return GenerationResult(text="one two three", prompt=text, settings=dict(settings), tokens=3, seconds=0.1)


def test_has_every_control():
    pg = Playground(Recorder(), {"temperature": 0.3})
    assert set(pg.sliders) == {"temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty", "num_beams"}
    assert pg.sliders["temperature"].value == pytest.approx(0.3)
    assert pg.generate_button.description == "Generate"


def test_moving_sliders_changes_the_next_generation():
    gen = Recorder()
    pg = Playground(gen, {"temperature": 0.1, "max_new_tokens": 32, "do_sample": True}, text="Hello")
    pg.sliders["temperature"].value = 0.7
    pg.sliders["top_k"].value = 12
    pg.sliders["max_new_tokens"].value = 64
    pg.do_sample.value = False
    pg.generate_button.click()
    text, used = gen.calls[-1]
    assert text == "Hello"
    assert used["temperature"] == 0.7 and used["top_k"] == 12 and used["max_new_tokens"] == 64
    assert used["do_sample"] is False
    assert pg.last_result.settings["temperature"] == 0.7
    assert "one two three" in pg.output.value and "3 tokens" in pg.output.value


def test_errors_show_in_the_output_area():
    def failing(text, settings, on_text):
        raise LlmMagicError("No config yet.")

    pg = Playground(failing, {})
    assert pg.run() is None
    assert "No config yet." in pg.output.value


def test_copy_as_yaml_loads_as_a_config_with_the_same_values():
    from llm_magic.runtime.config import load_config

    pg = Playground(Recorder(), {})
    pg.sliders["temperature"].value = 0.65
    pg.sliders["top_p"].value = 0.9
    pg.sliders["repetition_penalty"].value = 1.15
    pg.sliders["num_beams"].value = 3
    block = pg.show_yaml()
    assert pg.yaml_box.value == block and block.startswith("generation:")
    config = load_config(
        "model_type: llm\nbase_model: llm-magic/tiny\n"
        "input_features: [{name: q, type: text}]\noutput_features: [{name: a, type: text}]\n" + block
    )
    for name, value in pg.settings().items():
        assert getattr(config.generation, name) == value, name


def test_text_fallback_lists_settings_and_flags():
    pg = Playground(Recorder(), {"temperature": 0.2, "do_sample": False}, notebook=False)
    text = pg.render_text()
    assert "temperature: 0.2" in text and "--temperature 0.2" in text and "--greedy" in text


def test_out_of_range_config_value_widens_slider():
    pg = Playground(Recorder(), {"top_k": 500})
    assert pg.sliders["top_k"].value == 500 and pg.sliders["top_k"].max >= 500
    assert SLIDERS["top_k"][2] == 200
