"""%%llm_config with a Ludwig DPO trainer, %llm_train and %llm_eval --compare through a real InteractiveShell."""
from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("trl")

ANIMALS = ["cat", "dog", "fox", "owl", "cow", "pig", "hen", "bee", "ant", "elk", "yak", "bat",
           "eel", "ram", "emu", "gnu", "cod", "jay", "koi", "asp"]

# A Ludwig 0.17 DPO config block, as Ludwig's docs write it (plus an adapter, which Ludwig refuses here).
CONFIG = """model_type: llm
base_model: {model}
input_features:
  - name: word
    type: text
output_features:
  - name: answer
    type: text
prompt:
  template: "Name the {{word}}:"
adapter:
  type: lora
  r: 8
  dropout: 0.0
trainer:
  type: dpo
  dpo_beta: 0.1
  dpo_loss_type: sigmoid
  dpo_label_smoothing: 0.0
  rejected_column: rejected
  learning_rate: 0.01
  epochs: 3
  batch_size: 4
preprocessing:
  split: {{type: random, probabilities: [0.6, 0.2, 0.2]}}
generation: {{max_new_tokens: 4, do_sample: false}}
"""


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("dpo-llama"))


@pytest.fixture
def shell(ip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.user_ns["prefs"] = pd.DataFrame({"word": ANIMALS, "answer": [f" a {a}" for a in ANIMALS],
                                        "rejected": [" no idea" for _ in ANIMALS]})
    return ip


def test_dpo_config_trains_and_eval_compare_shows_the_preference_moved(shell, tiny_dir, capsys):
    shell.cell("llm_config", "", CONFIG.format(model=tiny_dir))
    capsys.readouterr()
    shell.line("llm_train", "--data prefs")
    out = capsys.readouterr().out
    assert "margin" in out and "finished" in out  # the terminal progress line shows TRL's reward margin
    comparison = shell.line("llm_eval", "--compare")
    base, tuned = comparison.metrics["preference_accuracy"]
    assert tuned > base
    text = repr(comparison)
    assert "Base (adapter off) against tuned" in text and "preference_accuracy" in text
    assert {"base", "tuned"} <= set(comparison.examples.columns)


def test_a_missing_rejected_column_is_one_line_naming_the_key(shell, tiny_dir, capsys):
    shell.cell("llm_config", "", CONFIG.format(model=tiny_dir).replace("rejected_column: rejected",
                                                                       "rejected_column: worse"))
    from IPython.core.error import UsageError

    with pytest.raises(UsageError) as failure:  # shown as one line, no traceback
        shell.line("llm_train", "--data prefs")
    message = str(failure.value)
    assert message.startswith("trainer.rejected_column: the data has no column 'worse'")
    assert "\n" not in message
