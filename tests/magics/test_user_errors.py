"""``user_errors``: a user's mistake or a Ctrl-C becomes one line, with a hint only where it helps."""
from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from llm_magic.errors import DataError
from llm_magic.magics._common import user_errors


def _interrupted(name):
    def command():
        raise KeyboardInterrupt

    command.__name__ = name
    return user_errors(command)


def test_an_interrupted_training_command_points_at_llm_status():
    with pytest.raises(UsageError, match=r"^%llm_train: interrupted\. Nothing was left half-done\. %llm_status"):
        _interrupted("llm_train")()


def test_an_interrupted_prompt_does_not_talk_about_training():
    with pytest.raises(UsageError) as failure:
        _interrupted("llm_prompt")()
    assert str(failure.value) == "%llm_prompt: interrupted. Nothing was left half-done."


def test_a_user_error_is_one_line_with_any_token_redacted(monkeypatch):
    token = "hf_" + "a" * 34
    monkeypatch.setenv("HF_TOKEN", token)

    @user_errors
    def command():
        raise DataError(f"bad data near {token}")

    with pytest.raises(UsageError) as failure:
        command()
    assert token not in str(failure.value) and "bad data near" in str(failure.value)
