"""``%llm_preview`` through a real InteractiveShell."""
from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

DATA = pd.DataFrame({
    "question": ["What is two plus two?", "Translate: the cat", "Capital of France?"],
    "answer": ["four", "le chat", "Paris"],
    "split": [0, 1, 2],
})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return str(build_tiny_model("llama", tmp_path_factory.mktemp("tiny_llama")))


@pytest.fixture
def shell(ip, session, model_dir, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    session.set_config({
        "base_model": model_dir,
        "input_features": [{"name": "question", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "prompt": {"template": "Q: {question}\nA:"},
        "preprocessing": {"split": {"type": "fixed"}},
    })
    ip.user_ns["df"] = DATA
    return ip


def test_preview_prints_the_prompt_and_binds_the_data(shell, session, capsys):
    shell.run_cell("%llm_preview --data df --row 1")
    out = capsys.readouterr().out
    assert "Prompt preview: row 1 of 3 (0-based)\n\n--- prompt ---\nQ: Translate: the cat\nA:\n" in out
    assert "--- target ---\nle chat\n" in out
    assert session.data is DATA
    # Bound now: later previews need no --data.
    view = shell.line("llm_preview", "--split test")
    assert view.preview.split == "test" and view.preview.prompt == "Q: Capital of France?\nA:"


def test_preview_from_a_file(shell, session, tmp_path):
    path = tmp_path / "data.jsonl"
    DATA.to_json(path, orient="records", lines=True)
    view = shell.line("llm_preview", f"--data {path} --row -1")
    assert view.preview.current_row == 2 and view.preview.target == "Paris"
    assert session.data == str(path)


def test_errors_are_usage_errors_and_leave_the_session_alone(shell, session):
    with pytest.raises(UsageError, match="No data to preview"):
        shell.run_cell("%llm_preview")
    with pytest.raises(UsageError, match="--row 5 is out of range"):
        shell.run_cell("%llm_preview --data df --row 5")
    assert session.data is None  # the failed command bound nothing
    with pytest.raises(UsageError, match="no notebook variable and no file of that name"):
        shell.run_cell("%llm_preview --data nothing_here")
    shell.user_ns["bad"] = DATA.drop(columns=["question"])
    with pytest.raises(UsageError, match=r"no column 'question' \(used by \{question\}.*answer, split"):
        shell.run_cell("%llm_preview --data bad")
    with pytest.raises(UsageError, match="invalid choice: 'dev'"):
        shell.run_cell("%llm_preview --data df --split dev")


def test_preview_after_llm_config_when_data_is_bound(ip, session, model_dir, capsys, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    session.bind_data(DATA)
    ip.cell("llm_config", "", f"""
base_model: {model_dir}
input_features: [{{name: question, type: text}}]
output_features: [{{name: answer, type: text}}]
prompt:
  template: "Question: {{question}} ->"
""")
    assert "--- prompt ---\nQuestion: What is two plus two? ->\n" in capsys.readouterr().out
