"""%%llm_config through a real InteractiveShell: store, display, named configs, errors, --interpolate."""
from __future__ import annotations

import pytest
from IPython.core.error import UsageError

CONFIG = """\
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
"""
LORA = CONFIG + "adapter: {type: lora, r: 4}\ntrainer: {type: finetune, epochs: 1}\n"


@pytest.fixture(autouse=True)
def terminal(monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")


def test_cell_stores_config_and_shows_changes_and_derived(ip, session, capsys):
    ip.cell("llm_config", "", LORA)
    assert session.config.adapter.r == 4 and session.config.trainer.type == "finetune"
    out = capsys.readouterr().out
    assert "llm config 'default' (current): llm-magic/tiny | trainer finetune | lora" in out
    assert "adapter.r: 4" in out and "trainer.epochs: 1" in out
    assert "adapter.alpha = 8   (alpha unset: 2 * r)" in out
    # The embedded model's recipe, flagged with its reason (other models: 0.0002, against Ludwig's).
    assert "trainer.learning_rate = 0.001   (llm-magic/tiny: the embedded model's measured recipe" in out
    assert "trainer.batch_size = 4" in out
    assert "temperature" not in out  # unchanged defaults are not listed


def test_display_shows_what_was_written_even_when_it_equals_a_default(ip, session, capsys):
    # bits 4 and epochs 3 are the defaults; the user wrote them, so the display must show them.
    ip.cell("llm_config", "", CONFIG + "quantization: {bits: 4}\ntrainer: {type: none, epochs: 3}\n")
    out = capsys.readouterr().out
    written = out.partition("Written in this config:")[2].partition("Derived by llm_magic")[0]
    assert "quantization.bits: 4" in written and "quantization: {}" not in out
    assert "trainer.epochs: 3" in written and "trainer.type: none" in written
    assert "temperature" not in out  # defaults the user did not write stay hidden


def test_display_shows_a_rewritten_value_as_written_and_the_rewrite_as_derived(ip, session, capsys):
    ip.cell("llm_config", "", CONFIG.replace("llm-magic/tiny", "mistral-7b") + "adapter: {type: lora, r: 4}\ntrainer: {type: finetune}\n")
    out = capsys.readouterr().out
    written, header, derived = out.partition("Written in this config:")[2].partition(
        "Derived by llm_magic (values it filled in or rewrote, with the reason):")
    assert header and "base_model: mistral-7b" in written and "adapter.r: 4" in written
    assert "adapter.alpha" not in written
    assert "base_model = mistralai/Mistral-7B-v0.1" in derived and "adapter.alpha = 8" in derived


def test_bad_cell_is_a_usage_error_and_keeps_previous_config(ip, session):
    ip.cell("llm_config", "", CONFIG)
    before = session.config
    with pytest.raises(UsageError) as info:
        ip.cell("llm_config", "", CONFIG + "adapter:\n  type: lora\n  lora_alpha: 16\n")
    message = str(info.value)
    # Line 8 of the cell as it shows (the %%llm_config line is line 1); line 7 of the YAML body.
    assert "line 8: adapter.lora_alpha" in message and "`alpha`" in message
    assert "Traceback" not in message
    assert session.config is before


def test_error_lines_count_the_magic_line_everywhere_in_the_message(ip, session):
    cell = CONFIG + "trainer: {type: finetune}\ntrainer: {type: none}\n"
    with pytest.raises(UsageError) as info:
        ip.run_cell("%%llm_config\n" + cell).raise_error()
    message = str(info.value)
    # The cell's lines: 1 is %%llm_config, the first trainer is on 6, the duplicate on 7.
    assert "line 7: trainer: duplicate key `trainer` (first at line 6)" in message, message


def test_bad_cell_via_run_cell_reports_every_problem(ip, session):
    with pytest.raises(UsageError) as info:
        ip.run_cell("%%llm_config\n" + CONFIG + "generation: {top_p: 3}\ntrainer: {type: finetune, batch_size: 0}\n")
    assert "2 problems" in str(info.value)
    assert session.config is None


def test_named_configs_coexist_and_switch(ip, session, capsys):
    ip.cell("llm_config", "zero", CONFIG)
    ip.cell("llm_config", "tuned", LORA)
    assert session.config_name == "tuned" and set(session.configs) == {"zero", "tuned"}
    ip.line("llm_config", "zero")
    assert session.config_name == "zero" and session.config.adapter is None
    capsys.readouterr()
    ip.line("llm_config")
    assert "llm config 'zero' (current)" in capsys.readouterr().out
    with pytest.raises(UsageError, match="No config named 'nope'.*tuned"):
        ip.line("llm_config", "nope")


def test_line_magic_without_config_says_what_to_do(ip):
    with pytest.raises(UsageError, match="%%llm_config"):
        ip.line("llm_config")


def test_interpolate_uses_notebook_variables(ip, session):
    ip.user_ns["rank"] = 16
    ip.user_ns["model_id"] = "llm-magic/tiny"
    ip.cell("llm_config", "--interpolate",
            "base_model: {{ model_id }}\ninput_features: [{name: q, type: text}]\n"
            "output_features: [{name: a, type: text}]\nadapter: {type: lora, r: {{ rank }}}\n"
            "trainer: {type: finetune}\n")
    assert session.config.adapter.r == 16 and session.config.base_model == "llm-magic/tiny"


def test_interpolate_undefined_variable_is_named(ip, session):
    with pytest.raises(UsageError, match="'missing_var' is undefined"):
        ip.cell("llm_config", "--interpolate", CONFIG + "adapter: {type: lora, r: {{ missing_var }}}\n")
    assert session.config is None


def test_interpolate_is_sandboxed(ip, session):
    ip.user_ns["obj"] = object()
    with pytest.raises(UsageError, match="--interpolate"):
        ip.cell("llm_config", "--interpolate", CONFIG + "# {{ obj.__class__.__subclasses__() }}\n")


def test_braces_stay_literal_without_interpolate(ip, session):
    ip.cell("llm_config", "", CONFIG + "prompt: {template: \"Q: {question}\\nA:\"}\n")
    assert session.config.prompt.template == "Q: {question}\nA:"


def test_notebook_frontend_renders_html(monkeypatch, ip, session):
    from llm_magic.widgets.config_view import ConfigView

    ip.cell("llm_config", "", CONFIG.replace("llm-magic/tiny", "mistral-7b"))
    view = ConfigView(session.config, session.config_name)
    page = view._repr_html_()
    assert "<table>" in page and "mistralai/Mistral-7B-v0.1" in page and "Ludwig preset" in page
    assert "base_model = mistralai/Mistral-7B-v0.1" in repr(view)


def test_load_flag_loads_the_model(ip, session, tmp_path):
    from tests.tiny_models import build_tiny_model

    path = build_tiny_model("llama", tmp_path / "tiny")
    ip.cell("llm_config", "--load", CONFIG.replace("llm-magic/tiny", str(path)))
    assert session.models.loaded is not None
    assert session.models.loaded.model.config.model_type == "llama"


def test_failed_load_keeps_previous_config(ip, session, tmp_path):
    ip.cell("llm_config", "", CONFIG)
    before = session.config
    with pytest.raises(UsageError):
        ip.cell("llm_config", "--load", CONFIG.replace("llm-magic/tiny", str(tmp_path / "no-such-model")))
    assert session.config is before
