"""Issue 14, item 8, as a user meets it: %llm_preview, %llm_predict and %%llm_config in a real shell."""
from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return str(build_tiny_model("llama", tmp_path_factory.mktemp("trust_llama")))


def _config(model_dir, prep="{}", template="Q: {question} A:"):
    return (f"base_model: {model_dir}\n"
            f"input_features: [{{name: question, type: text, preprocessing: {prep}}}]\n"
            "output_features: [{name: answer, type: text}]\n"
            f"prompt:\n  template: {template!r}\n"
            "generation: {max_new_tokens: 2, do_sample: false}\n")


@pytest.fixture
def shell(ip, model_dir, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.cell("llm_config", "", _config(model_dir))
    return ip


def test_preview_clips_a_huge_value_and_says_how_long_it_was(shell, capsys):
    shell.user_ns["big"] = pd.DataFrame({"question": ["x" * 2_000_000], "answer": ["y" * 50_000]})
    shell.run_cell("%llm_preview --data big")
    out = capsys.readouterr().out
    assert len(out) < 10_000
    assert "[clipped: 2,000,000 characters, the first 2,000 shown]" in out
    assert "[clipped: 50,000 characters, the first 2,000 shown]" in out  # the target too
    view = shell.line("llm_preview", "--data big")
    assert len(view.preview.prompt) == 2_000_000 + len("Q:  A:")  # the model still gets it all
    from llm_magic.widgets.prompt_preview import render_html

    assert len(render_html(view.preview)) < 10_000


def test_bad_data_gives_one_usage_error_each(shell, session, tmp_path):
    shell.user_ns["dup"] = pd.DataFrame([["q", "q2", "a"]], columns=["question", "question", "answer"])
    with pytest.raises(UsageError, match="2 columns named 'question'.*duplicated"):
        shell.run_cell("%llm_preview --data dup")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("question,answer\ncafé?,oui\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"latin\.csv'.*not UTF-8.*encoding='latin-1'"):
        shell.run_cell(f"%llm_preview --data {latin}")
    with pytest.raises(UsageError, match=r"is a directory, not a data file\. It holds latin\.csv"):
        shell.run_cell(f"%llm_preview --data {tmp_path}")
    assert session.data is None  # nothing was bound by the failed commands


def test_context_without_retrieval_is_refused_at_llm_config(ip, session, model_dir):
    before = session.config
    with pytest.raises(UsageError) as info:
        ip.cell("llm_config", "", _config(model_dir, template="Examples: {__context__}\nQ: {question} A:"))
    message = str(info.value)
    assert "line 6: prompt.template" in message and "{__context__}" in message
    assert "prompt.retrieval is not set" in message and "type: random" in message
    assert session.config is before


def test_predict_fills_missing_inputs_as_training_and_preview_do(ip, session, model_dir, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.cell("llm_config", "", _config(model_dir, prep="{fill_value: 'N/A'}"))
    ip.user_ns["df"] = pd.DataFrame({"question": ["one", None, float("nan")], "answer": ["1", "2", "3"]})
    preview = ip.line("llm_preview", "--data df --row 1").preview
    frame = ip.run_cell("%llm_predict --data df")
    assert preview.prompt == "Q: N/A A:"
    assert list(frame["prompt"]) == ["Q: one A:", "Q: N/A A:", "Q: N/A A:"]
    assert frame["question"].isna().tolist() == [False, True, True]  # the user's data is shown as given
    assert frame.attrs["missing_values"] == ["filled 2 missing values in 'question'"]


def test_predict_with_drop_row_says_which_rows_it_left_out(ip, session, model_dir):
    ip.cell("llm_config", "", _config(model_dir, prep="{missing_value_strategy: drop_row}"))
    ip.user_ns["df"] = pd.DataFrame({"question": ["one", None, "three"]})
    with pytest.warns(UserWarning, match=r"dropped 1 row with no value in 'question'.*drop_row"):
        frame = ip.run_cell("%llm_predict --data df")
    assert list(frame.index) == [0, 2] and list(frame["prompt"]) == ["Q: one A:", "Q: three A:"]


def test_a_null_value_in_a_prompt_cell_follows_the_same_rule(ip, session, model_dir):
    from llm_magic.runtime.generation.runner import build_prompt

    ip.cell("llm_config", "", _config(model_dir, prep="{fill_value: 'N/A'}",
                                     template="Q: {question} ({extra}) A:"))
    prompt, _ = build_prompt(session, session.config, "question: hi\nextra: null\n")
    assert prompt == "Q: hi (N/A) A:"
