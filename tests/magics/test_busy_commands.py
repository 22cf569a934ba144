"""Case 9 of the trust issue: no command reads or writes weights while background training runs."""
from __future__ import annotations

import threading

import pandas as pd
import pytest
from IPython.core.error import UsageError

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]


class Gate:
    """A metric logger that holds the background run at its first step until released."""

    def __init__(self) -> None:
        self.reached, self.release = threading.Event(), threading.Event()

    def log(self, name, data, step):
        if name == "loss":
            self.reached.set()
            self.release.wait(60)

    def log_dict(self, payload, step):
        for key, value in payload.items():
            self.log(key, value, step)

    def close(self):
        self.release.set()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("busy-llama"))


COMMANDS = [
    ("llm_export_script", "job"),
    ("llm_save", "saved"),
    ("llm_merge", ""),
    ("llm_export", "exported"),
    ("llm_load", "saved-before"),
    ("llm_upload", "someone/repo --dir saved-before"),
    ("llm_info", "--unload"),
]


@pytest.mark.slow
def test_weight_commands_refuse_while_background_training_runs(ip, tiny_dir, tmp_path, monkeypatch):
    from llm_magic.runtime.session import get_session

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.cell("llm_config", "", (
        f"model_type: llm\nbase_model: {tiny_dir}\n"
        "input_features: [{name: word, type: text}]\noutput_features: [{name: answer, type: text}]\n"
        'prompt: {template: "Say {word}:"}\nadapter: {type: lora, r: 4}\n'
        "trainer: {type: finetune, train_steps: 4, batch_size: 4}\n"
        "preprocessing: {split: {type: random, probabilities: [1.0, 0.0, 0.0]}}\n"))
    ip.line("llm_save", "saved-before")
    session = get_session()
    gate = Gate()
    df = pd.DataFrame({"word": WORDS, "answer": [" " + w for w in WORDS]})
    record = session.train(df, background=True, loggers=[gate])
    try:
        assert gate.reached.wait(60), "the background run did not start"
        listing = sorted(p.name for p in tmp_path.iterdir())
        model = session.models.loaded
        for magic, line in COMMANDS:
            with pytest.raises(UsageError, match="now: training run .* is in progress"):
                ip.line(magic, line)
            # Refused before touching anything: no new folder, the same model.
            assert sorted(p.name for p in tmp_path.iterdir()) == listing, magic
            assert session.models.loaded is model, magic
    finally:
        gate.release.set()
        session.training.thread.join(60)
    assert record.status == "finished"
