"""The prompt preview: its state (rows, spans, token counts, warnings), its text, HTML and widget."""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.widgets.prompt_preview import (
    KIND_COLOURS,
    PromptPreviewView,
    maybe_show_preview,
    render_html,
    render_rows_html,
    render_text,
)

DATA = pd.DataFrame({
    "instruction": ["Say hi to <Bob> & Alice", "Count to three", "Name a colour"],
    "lang": ["en", "fr", "de"],
    "output": ["hi Bob, hi Alice", "one two three", "red"],
})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return str(build_tiny_model("llama", tmp_path_factory.mktemp("tiny_llama")))


def _config(model_dir, **extra):
    config = {
        "base_model": model_dir,
        "input_features": [{"name": "instruction", "type": "text"}],
        "output_features": [{"name": "output", "type": "text"}],
        "prompt": {"template": "[{lang}] {__task__}: {__sample__}\nANSWER:", "task": "Reply"},
    }
    config.update(extra)
    return config


@pytest.fixture
def preview_session(session, model_dir):
    session.set_config(_config(model_dir))
    session.bind_data(DATA)
    return session


def test_state_rows_spans_and_counts(preview_session):
    from transformers import AutoTokenizer

    preview = preview_session.preview(row=1)
    assert len(preview) == 3 and preview.rows.equals(DATA)
    assert preview.current_row == 1
    assert preview.prompt == "[fr] Reply: Count to three\nANSWER:"
    assert [(s.kind, s.source) for s in preview.spans] == [
        ("template", None), ("column", "lang"), ("template", None), ("task", "__task__"),
        ("template", None), ("sample", "instruction"), ("template", None)]
    assert preview.target == "one two three"
    tok = AutoTokenizer.from_pretrained(preview_session.config.base_model)
    n_prompt = len(tok(preview.prompt)["input_ids"])
    n_target = len(tok("one two three", add_special_tokens=False)["input_ids"]) + 1
    assert preview.token_counts == {"prompt": n_prompt, "target": n_target, "total": n_prompt + n_target}
    assert preview.limits.max_total == 256  # the tiny model's context length
    assert preview.warnings == []


def test_select_moves_to_another_row(preview_session):
    preview = preview_session.preview()
    assert preview.select(2) is preview
    assert preview.current_row == 2 and preview.prompt == "[de] Reply: Name a colour\nANSWER:"
    assert preview.select(-3).current_row == 0
    with pytest.raises(LlmMagicError, match=r"--row 3 is out of range: the data has 3 rows \(0 to 2\)"):
        preview.select(3)


def test_truncation_warning(session, model_dir):
    session.set_config(_config(model_dir, input_features=[
        {"name": "instruction", "type": "text", "preprocessing": {"max_sequence_length": 5}}]))
    preview = session.preview(data=DATA)
    cut = preview.token_counts["prompt"] - 5
    assert preview.warnings == [
        f"Row 0 will be truncated: the prompt has {preview.token_counts['prompt']} tokens, {cut} will "
        "be cut from its start (limits: input 5, total 256)."]
    assert f"WARNING: Row 0 will be truncated" in render_text(preview)


def test_split_and_missing_values(session, model_dir):
    session.set_config(_config(model_dir, preprocessing={"split": {"type": "fixed"}}))
    data = DATA.assign(split=[0, 1, 1])
    data.loc[2, "lang"] = None
    preview = session.preview(data=data, split="validation", row=1)
    assert list(preview.rows.index) == [1, 2]
    assert preview.prompt.startswith("[<UNK>] Reply: Name a colour")  # Ludwig's default fill_value
    assert preview.notes == ["Missing values: filled 1 missing value in 'lang'."]
    with pytest.raises(LlmMagicError, match="--split 'dev': use one of train, validation, test"):
        session.preview(data=data, split="dev")


def test_errors_name_the_problem(session, model_dir):
    session.set_config(_config(model_dir))
    with pytest.raises(LlmMagicError, match="No data to preview"):
        session.preview()
    with pytest.raises(LlmMagicError, match=r"no column 'lang' \(used by \{lang\}"):
        session.preview(data=DATA.drop(columns=["lang"]))


def test_text_rendering(preview_session):
    text = render_text(preview_session.preview())
    assert text.startswith("Prompt preview: row 0 of 3 (0-based)\n\n--- prompt ---\n"
                           "[en] Reply: Say hi to <Bob> & Alice\nANSWER:\n--- substituted parts ---\n")
    assert "  {lang} [column]: en\n" in text
    assert "  {__task__} [task]: Reply\n" in text
    assert "  {instruction} [input sample]: Say hi to <Bob> & Alice\n" in text
    assert "--- target ---\nhi Bob, hi Alice\n--- tokens ---\nprompt" in text
    assert repr(PromptPreviewView(preview_session.preview())) == text


def test_html_highlights_each_part_and_escapes(preview_session):
    page = render_html(preview_session.preview())
    assert f'<span class="llm-span llm-column" title="column: {{lang}}" style="background:{KIND_COLOURS["column"]}">en</span>' in page
    assert f'style="background:{KIND_COLOURS["task"]}">Reply</span>' in page
    assert ">Say hi to &lt;Bob&gt; &amp; Alice</span>" in page
    assert "<Bob>" not in page
    assert "hi Bob, hi Alice" in page


def test_notebook_preview_is_plain_html_rows_that_survive_a_saved_notebook(preview_session, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "notebook")
    view = PromptPreviewView(preview_session.preview(row=1))
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}, "no widget view: nothing to go missing"
    page = bundle["text/html"]
    # Rows 1 and 2 (from the selected row on), the selected one open, each highlighted.
    assert page.count("<details") == 2 and "<details open" in page
    assert page.index("Count to three") < page.index("Name a colour") and "Say hi to" not in page
    assert "rows 1 to 2 of 3" in page
    assert view.preview.current_row == 1  # rendering the rows leaves the selection alone
    monkeypatch.setattr("llm_magic.widgets.prompt_preview.ROWS_SHOWN", 1)
    assert "%llm_preview --row 1" in render_rows_html(preview_session.preview(), 1)


def test_maybe_show_preview(session, model_dir, capsys, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    assert maybe_show_preview(session) is None  # no config, no data
    session.set_config(_config(model_dir))
    assert maybe_show_preview(session) is None  # no data bound
    session.bind_data(DATA.drop(columns=["lang"]))
    assert maybe_show_preview(session) is None
    assert "Prompt preview unavailable: The data has no column 'lang'" in capsys.readouterr().out
    session.bind_data(DATA)
    view = maybe_show_preview(session)
    assert view is not None and view.preview.current_row == 0
    assert "[en] Reply: Say hi to <Bob> & Alice" in capsys.readouterr().out


def test_retrieved_context_is_shown(session, model_dir):
    session.set_config(_config(
        model_dir, preprocessing={"split": {"type": "fixed"}},
        prompt={"template": "{__context__}\n--\n{__sample__} =>", "retrieval": {"type": "random", "k": 1}}))
    data = DATA.assign(split=[0, 0, 2])
    preview = session.preview(data=data, row=2)
    assert len(preview.context) == 1 and preview.context[0]["output"] in {"hi Bob, hi Alice", "one two three"}
    example = preview.context[0]
    assert preview.spans[0] == (f"instruction: {example['input']}\noutput: {example['output']}",
                                "context", "__context__")
    assert f"--- retrieved context (1) ---\n  1. {example['input']} -> {example['output']}" in render_text(preview)
    assert f'style="background:{KIND_COLOURS["context"]}">instruction: ' in render_html(preview)
    # A training row never sees itself.
    assert preview.select(0).context[0]["input"] == DATA.loc[1, "instruction"]
