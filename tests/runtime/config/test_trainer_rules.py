"""Every ``trainer:`` problem shows at config time with its key and line; the run's settings are
derived from the validated block, with the schema's defaults (one trainer schema)."""
from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from llm_magic import ConfigError, load_config
from llm_magic.runtime.config.schema.trainer import FinetuneTrainer
from llm_magic.runtime.training.settings import settings_from_config

BASE = """\
model_type: llm
base_model: some/model
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
"""


def _problem(text: str, path: str):
    with pytest.raises(ConfigError) as info:
        load_config(text)
    found = [e for e in info.value.errors if e.path == path]
    assert found, info.value
    return found[0]


@pytest.mark.parametrize("trainer, path, line, words", [
    ("trainer:\n  type: finetune\n  learning_rate: auto\n", "trainer.learning_rate", 7, "learning_rate: 0.0002"),
    ("trainer:\n  type: finetune\n  batch_size: 2\n  gradient_accumulation_steps: 2\n  effective_batch_size: 8\n",
     "trainer.effective_batch_size", 9, "2 x 2 = 4"),
    ("trainer:\n  type: finetune\n  validation_metric: accuracy\n", "trainer.validation_metric", 7, "token_accuracy"),
])
def test_trainer_errors_name_key_line_and_fix(trainer, path, line, words):
    problem = _problem(BASE + trainer, path)
    assert problem.line == line and words in problem.message


def test_learning_rate_auto_fails_in_the_config_cell(ip, session, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    with pytest.raises(UsageError) as info:
        ip.cell("llm_config", "", BASE + "trainer:\n  type: finetune\n  learning_rate: auto\n")
    # Line 8 of the cell as it shows (the %%llm_config line is line 1).
    assert "line 8: trainer.learning_rate: 'auto'" in str(info.value)
    assert session.config is None


def test_settings_take_the_schema_defaults():
    settings = settings_from_config(load_config(BASE + "trainer: {type: finetune}\n").trainer)
    schema = FinetuneTrainer()
    assert (settings.learning_rate, settings.epochs, settings.early_stop) == (
        schema.learning_rate, schema.epochs, schema.early_stop)
    assert settings.clip_global_norm == schema.gradient_clipping.clipglobalnorm
    assert settings.optimizer == schema.optimizer.model_dump()


def test_none_trainer_settings_keep_its_batch_sizes():
    config = load_config(BASE + "trainer: {type: none, batch_size: 3, eval_batch_size: 0}\n")
    settings = settings_from_config(config.trainer)
    assert settings.type == "none" and settings.eval_batch_size == 3
