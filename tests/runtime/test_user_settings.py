"""``Settings``: the runtime's user settings, as the Python API takes them."""
from __future__ import annotations

import pytest

from llm_magic.runtime.settings import Settings, SettingsError, cache_root


def test_configure_moves_the_next_runs_and_refuses_what_is_not_settings(session):
    assert session.training.output_root == "llm_magic_runs"
    session.configure(Settings(output_root="elsewhere", stop_grace=5))
    assert session.training.output_root == "elsewhere" and session.settings.stop_grace == 5
    with pytest.raises(TypeError, match="Settings"):
        session.configure({"output_root": "x"})


@pytest.mark.parametrize("fields, words", [
    ({"output_root": "  "}, "output_root = '  ': expected a folder path"),
    ({"stop_grace": 0}, "stop_grace = 0: expected a positive number"),
    ({"stop_grace": float("nan")}, "stop_grace = nan"),
    ({"cache_dir": ""}, "cache_dir = '': expected a folder path"),
])
def test_invalid_settings_name_the_field(fields, words):
    with pytest.raises(SettingsError) as error:
        Settings(**fields)
    assert words in str(error.value)


def test_cache_root_prefers_the_setting_then_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_MAGIC_CACHE", raising=False)
    assert cache_root() == cache_root(None) and cache_root().parts[-2:] == (".cache", "llm_magic")
    monkeypatch.setenv("LLM_MAGIC_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(str(tmp_path / "set")) == tmp_path / "set"
