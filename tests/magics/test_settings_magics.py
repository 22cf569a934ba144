"""``%config LlmMagics.*`` settings, driven through a real InteractiveShell."""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from traitlets.config import Config

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("settings-llama"))


@pytest.fixture
def shell(ip, tmp_path, monkeypatch):
    """The shared shell, its LlmMagics settings put back to the defaults afterwards (it outlives the test)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    magics = ip.shell.magics_manager.registry["LlmMagics"]
    yield ip
    for name in magics.trait_names(config=True):
        setattr(magics, name, magics.trait_defaults(name))


def _config(model_dir, batch_size=4):
    return (
        f"model_type: llm\nbase_model: {model_dir}\n"
        "input_features: [{name: word, type: text}]\n"
        "output_features: [{name: answer, type: text}]\n"
        'prompt: {template: "Say {word}:"}\n'
        "adapter: {type: lora, r: 4}\n"
        f"trainer: {{type: finetune, learning_rate: 0.01, epochs: 1, batch_size: {batch_size}}}\n"
        "preprocessing: {split: {type: random, probabilities: [0.5, 0.25, 0.25]}}\n"
    )


def _settings(ip):
    return ip.shell.magics_manager.registry["LlmMagics"]


def test_output_root_setting_puts_the_run_folder_there(shell, tiny_dir, tmp_path):
    from llm_magic.runtime.session import get_session

    shell.user_ns["df"] = pd.DataFrame({"word": WORDS, "answer": [f" {w}" for w in WORDS]})
    shell.run_cell('%config LlmMagics.output_root = "x"')
    shell.cell("llm_config", "", _config(tiny_dir))
    shell.line("llm_train", "--data df")
    run = get_session().runs.runs[0]
    assert run.status == "finished"
    assert Path(run.output_dir) == (tmp_path / "x" / run.run_id).resolve()
    assert (tmp_path / "x" / run.run_id).is_dir()
    assert not (tmp_path / "llm_magic_runs").exists()


@pytest.mark.parametrize("line, words", [
    ("LlmMagics.output_root = ''", "LlmMagics.output_root = '': expected a folder path"),
    ("LlmMagics.stop_grace = -1", "LlmMagics.stop_grace = -1.0: expected a positive number of seconds"),
    ("LlmMagics.chart_interval = -2", "LlmMagics.chart_interval = -2.0: expected seconds >= 0"),
    ("LlmMagics.frontend = 'web'", "expected any of ['auto', 'notebook', 'terminal']"),
])
def test_an_invalid_value_is_one_clear_error_and_changes_nothing(shell, caplog, line, words):
    from llm_magic.runtime.session import get_session

    shell.run_cell('%config LlmMagics.output_root = "kept"')
    before = get_session().settings
    values = _settings(shell).trait_values(config=True)
    with caplog.at_level(logging.ERROR):
        shell.run_cell(f"%config {line}")  # IPython's %config logs a setting's error, it does not raise
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and words in errors[0]
    assert _settings(shell).trait_values(config=True) == values
    assert get_session().settings == before and before.output_root == "kept"


def test_ipython_config_values_apply_when_the_extension_loads(shell):
    from llm_magic.magics.settings_magics import LlmMagics
    from llm_magic.runtime.session import get_session

    config = Config()
    config.LlmMagics.output_root = "from-profile"
    config.LlmMagics.stop_grace = 12.5
    magics = LlmMagics(shell=shell.shell, config=config)  # as %load_ext builds it under a profile
    try:
        assert get_session().settings.output_root == "from-profile"
        assert get_session().settings.stop_grace == 12.5
        assert get_session().training.output_root == "from-profile"
    finally:
        shell.shell.configurables.remove(magics)

    config.LlmMagics.stop_grace = 0
    configurables = list(shell.shell.configurables)
    with pytest.raises(UsageError, match=r"ipython_config.py: LlmMagics.stop_grace = 0.0: expected a positive"):
        LlmMagics(shell=shell.shell, config=config)
    assert shell.shell.configurables == configurables


def test_frontend_setting_wins_over_the_environment_variable(shell, monkeypatch):
    from llm_magic.widgets.frontend import is_notebook

    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    assert not is_notebook()
    shell.run_cell("%config LlmMagics.frontend = 'notebook'")
    assert is_notebook()
    shell.run_cell("%config LlmMagics.frontend = 'auto'")  # auto: the variable again
    assert not is_notebook()


def test_cache_dir_setting_reaches_the_session_and_wins_over_the_variable(shell, tmp_path, monkeypatch):
    from llm_magic.runtime.data.retrieval import index_cache_dir
    from llm_magic.runtime.session import get_session

    monkeypatch.setenv("LLM_MAGIC_CACHE", str(tmp_path / "from-env"))
    assert index_cache_dir(get_session().settings.cache_dir) == tmp_path / "from-env" / "index"
    shell.run_cell(f"%config LlmMagics.cache_dir = {str(tmp_path / 'chosen')!r}")
    assert index_cache_dir(get_session().settings.cache_dir) == tmp_path / "chosen" / "index"


def test_llm_settings_shows_each_value_and_where_it_comes_from(shell, capsys):
    shell.run_cell("%config LlmMagics.output_root = 'elsewhere'")
    shell.run_cell("%config LlmMagics.chart_interval = 1")
    shell.line("llm_settings")
    out = capsys.readouterr().out
    assert "LlmMagics.output_root" in out and "elsewhere  [%config / ipython_config.py]" in out
    assert "LlmMagics.chart_interval  1 s  [%config / ipython_config.py]" in out
    assert "LlmMagics.frontend        auto (terminal)  [$LLM_MAGIC_FRONTEND]" in out


@pytest.fixture
def chart_messages(monkeypatch):
    """The ``points`` messages the live chart sends the page (widget comms recorded, not sent)."""
    import comm
    import ipywidgets.comm

    sent: list[dict] = []
    lock = threading.Lock()

    class RecordingComm(comm.base_comm.BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            content = json.loads(json.dumps(data, default=str))
            if msg_type == "comm_msg" and content.get("method") == "custom" and content["content"].get("k") == "points":
                with lock:
                    sent.append(content["content"])

    monkeypatch.setattr(ipywidgets.comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    return sent


@pytest.mark.parametrize("interval", [0, 3600])
def test_chart_interval_sets_how_often_the_chart_is_sent_points(shell, tiny_dir, chart_messages, monkeypatch,
                                                                  interval):
    from llm_magic.runtime.session import get_session
    from tests.display_recorder import RecordingPublisher

    monkeypatch.setattr(shell.shell, "display_pub", RecordingPublisher())
    shell.user_ns["df"] = pd.DataFrame({"word": WORDS, "answer": [f" {w}" for w in WORDS]})
    shell.run_cell("%config LlmMagics.frontend = 'notebook'")  # over $LLM_MAGIC_FRONTEND=terminal
    shell.run_cell(f"%config LlmMagics.chart_interval = {interval}")
    shell.cell("llm_config", "", _config(tiny_dir, batch_size=1))
    shell.line("llm_train", "--data df")
    steps = get_session().runs.runs[0].global_step
    assert steps == 4  # 4 train rows, one a step
    if interval == 0:
        assert len(chart_messages) >= steps  # every logged step goes out at once
    else:
        assert 1 <= len(chart_messages) <= 2  # the first at once, the rest when the run ends
    losses = [p for message in chart_messages for p in message["d"].get("loss", [])]
    assert [step for step, _ in losses] == [1, 2, 3, 4]  # either way the page gets every point once
