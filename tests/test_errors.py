"""The error classes: a Python API caller can tell a data error from a model, checkpoint or hub one,
and the magics still show each as one ``UsageError`` screen."""
from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

import llm_magic
from llm_magic import (
    CheckpointError,
    ConfigError,
    DataError,
    DeviceError,
    HubError,
    LlmMagicError,
    ModelLoadError,
    SettingsError,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return str(build_tiny_model("llama", tmp_path_factory.mktemp("tiny_llama")))


def _config(base_model: str) -> dict:
    return {
        "base_model": base_model,
        "input_features": [{"name": "question", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "trainer": {"type": "finetune", "epochs": 1, "batch_size": 2},
    }


@pytest.mark.parametrize("cls", [ConfigError, DataError, ModelLoadError, HubError, CheckpointError,
                                 DeviceError, SettingsError])
def test_every_error_class_is_an_llm_magic_error_exported_by_the_package(cls):
    assert issubclass(cls, LlmMagicError)
    assert cls.__name__ in llm_magic.__all__
    assert cls.__doc__


def test_settings_error_keeps_its_old_import_path():
    from llm_magic.runtime.settings import Settings
    from llm_magic.runtime.settings import SettingsError as old_path

    assert old_path is SettingsError
    with pytest.raises(SettingsError, match="stop_grace"):
        Settings(stop_grace=-1)
    with pytest.raises(ValueError):  # still a ValueError for callers that catch that
        Settings(output_root="")


def test_with_note_keeps_the_class_and_the_problems():
    from llm_magic.errors import ConfigErrorItem

    error = ConfigError([ConfigErrorItem("adapter.r", 3, "too large")])
    noted = error.with_note("(The previous adapter and its weights are kept.)")
    assert type(noted) is ConfigError and noted.errors == error.errors
    assert str(noted) == f"{error}\n(The previous adapter and its weights are kept.)"
    assert type(DataError("x").with_note("y")) is DataError


def test_a_missing_column_is_a_data_error(session, model_dir):
    session.set_config(_config(model_dir))
    frame = pd.DataFrame({"question": ["a", "b", "c"], "reply": ["x", "y", "z"]})
    with pytest.raises(DataError, match="no column 'answer'"):
        session.train(data=frame)


def test_empty_data_is_a_data_error(session, model_dir):
    session.set_config(_config(model_dir))
    with pytest.raises(DataError, match="The data is empty"):
        session.train(data=pd.DataFrame({"question": [], "answer": []}))


def test_a_missing_local_model_path_is_a_model_load_error(tmp_path):
    from llm_magic.runtime.models.source import resolve_source

    with pytest.raises(ModelLoadError, match="is not an existing folder"):
        resolve_source(str(tmp_path / "no_such_model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json"):
        resolve_source(str(tmp_path / "empty"))


def test_a_bad_resume_path_is_a_checkpoint_error(session, model_dir, tmp_path):
    session.set_config(_config(model_dir))
    frame = pd.DataFrame({"question": ["a", "b", "c"], "answer": ["x", "y", "z"]})
    with pytest.raises(CheckpointError, match="not a trainer checkpoint"):
        session.train(data=frame, resume=str(tmp_path))


def test_loading_a_folder_that_is_no_run_is_a_checkpoint_error(session, tmp_path):
    with pytest.raises(CheckpointError, match="no such folder"):
        session.load(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="is not an llm_magic run folder"):
        session.load(tmp_path)


def test_an_upload_without_a_token_is_a_hub_error(session, tmp_path, monkeypatch):
    from llm_magic.runtime.persistence import upload

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(upload.layout, "env_token", lambda: None)
    with pytest.raises(HubError, match="No Hugging Face token"):
        session.upload("me/model", tmp_path)


def test_uploading_a_folder_that_holds_no_run_is_a_checkpoint_error(session, tmp_path, monkeypatch):
    from llm_magic.runtime.persistence import upload

    monkeypatch.setattr(upload.layout, "env_token", lambda: "hf_" + "x" * 34)  # never sent: refused first
    with pytest.raises(CheckpointError, match="no such folder to upload"):
        session.upload("me/model", tmp_path / "missing")
    with pytest.raises(CheckpointError, match="holds no model"):
        session.upload("me/model", tmp_path)


def test_a_damaged_user_config_in_a_folder_is_a_checkpoint_error(tmp_path):
    from llm_magic.runtime.persistence.user_config import load_user_config

    with pytest.raises(CheckpointError, match="not valid YAML"):
        load_user_config("base_model: [", "adapter", tmp_path)
    with pytest.raises(CheckpointError, match="does not hold a config mapping"):
        load_user_config("- a list", "adapter", tmp_path)


def test_a_tokenizer_without_eos_or_pad_is_a_model_load_error():
    from types import SimpleNamespace

    from llm_magic.runtime.data.tokenize import ensure_pad_token

    tokenizer = SimpleNamespace(pad_token_id=None, eos_token=None, name_or_path="no-eos")
    with pytest.raises(ModelLoadError, match="neither a pad nor an EOS token"):
        ensure_pad_token(tokenizer)


def test_a_dpo_split_without_rejected_answers_is_a_data_error():
    from llm_magic.runtime.training.data import SplitData
    from llm_magic.runtime.training.preference import preference_dataset

    with pytest.raises(DataError, match="needs a rejected answer per row"):
        preference_dataset(SplitData([], ["q"], ["a"]), "dpo")


def test_the_magic_shows_a_data_error_as_one_usage_error(ip, session, model_dir, capsys):
    session.set_config(_config(model_dir))
    ip.user_ns["df"] = pd.DataFrame({"question": ["a", "b"], "reply": ["x", "y"]})
    with pytest.raises(UsageError) as caught:
        ip.line("llm_train", "--data df")
    assert "no column 'answer'" in str(caught.value)
    assert "Traceback" not in str(caught.value)
