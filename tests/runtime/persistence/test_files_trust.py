"""Case 7 of the trust issue: run folders and paths the user can rely on."""
from __future__ import annotations

import errno
import json
import os

import pandas as pd
import pytest
import torch
from IPython.core.error import UsageError

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("files-llama"))


def config(base, steps=4):
    return (
        f"model_type: llm\nbase_model: {base}\n"
        "input_features: [{name: word, type: text}]\noutput_features: [{name: answer, type: text}]\n"
        'prompt: {template: "Say {word}:"}\nadapter: {type: lora, r: 4}\n'
        f"trainer: {{type: finetune, train_steps: {steps}, batch_size: 2, learning_rate: 0.05}}\n"
        "preprocessing: {split: {type: random, probabilities: [1.0, 0.0, 0.0]}}\n"
    )


class StopAtFirstStep:
    """A metric logger that asks the run to stop at its first step (like pressing Stop)."""

    def __init__(self, session):
        self.session = session

    def log(self, name, data, step):
        pass

    def log_dict(self, payload, step):
        if "loss" in payload:
            self.session.stop_training()

    def close(self):
        pass


@pytest.fixture
def shell(ip, tiny_dir, tmp_path, monkeypatch):
    from llm_magic.runtime.session import get_session

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.user_ns["df"] = pd.DataFrame({"word": WORDS, "answer": [" " + w for w in WORDS]})
    ip.cell("llm_config", "", config(tiny_dir))
    return ip, get_session()


def test_after_cd_resume_and_save_still_find_the_checkpoint(shell, tmp_path):
    ip, session = shell
    record = session.train(ip.user_ns["df"], loggers=[StopAtFirstStep(session)])
    assert record.status == "stopped" and os.path.isabs(record.checkpoint)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ip.line("cd", str(elsewhere))
    saved = ip.line("llm_save", "saved")
    assert saved.path == elsewhere / "saved"
    assert saved.checkpoint and (saved.path / saved.checkpoint / "trainer_state.json").is_file()
    ip.line("llm_train", "--resume")
    assert session.training.last_run is record
    assert record.status == "finished" and record.global_step == 4


def test_resaving_keeps_files_the_user_added(shell, tmp_path):
    ip, session = shell
    ip.line("llm_save", "run")
    (tmp_path / "run" / "my-notes.txt").write_text("mine")
    (tmp_path / "run" / "plots").mkdir()
    (tmp_path / "run" / "plots" / "loss.png").write_bytes(b"png")
    ip.line("llm_save", "run")
    assert (tmp_path / "run" / "my-notes.txt").read_text() == "mine"
    assert (tmp_path / "run" / "plots" / "loss.png").read_bytes() == b"png"
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_a_folder_that_is_not_ours_is_refused_unless_overwrite(shell, tmp_path):
    ip, session = shell
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "data.csv").write_text("a,b\n")
    with pytest.raises(UsageError, match="holds other files.*--overwrite"):
        ip.line("llm_save", "theirs")
    assert sorted(p.name for p in theirs.iterdir()) == ["data.csv"]
    ip.line("llm_save", "theirs --overwrite")
    assert (theirs / "data.csv").read_text() == "a,b\n" and (theirs / "llm_magic.json").is_file()


@pytest.mark.parametrize("where", ["parent", "rename"])
def test_a_read_only_target_is_one_line_and_leaves_nothing(shell, tmp_path, monkeypatch, where):
    # The tests run as root, for whom chmod does not refuse writes: the refusal is injected
    # where the OS would raise it (creating the temporary folder; renaming it into place).
    import tempfile

    from llm_magic.runtime.persistence import layout

    ip, session = shell
    ip.line("llm_save", "run")
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    if where == "parent":
        monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    else:
        real_replace = os.replace

        def replace(src, dst):
            if ".tmp-" in os.fspath(src):
                refuse()
            return real_replace(src, dst)

        monkeypatch.setattr(layout.os, "replace", replace)
    with pytest.raises(UsageError) as err:
        ip.line("llm_save", "run")
    message = str(err.value)
    assert len(message.splitlines()) == 1 and "permission denied" in message and "run" in message
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == before


def test_loading_the_same_folder_twice_is_idempotent(shell, tmp_path):
    ip, session = shell
    ip.line("llm_train", "--data df")
    ip.line("llm_save", "run")
    ip.line("llm_load", "run")
    runs, rows = len(session.training.runs), len(session.training.history)
    ip.line("llm_load", "run")
    assert (len(session.training.runs), len(session.training.history)) == (runs, rows)
    ip.line("llm_save", "again")
    history = pd.read_csv(tmp_path / "again" / "history.csv")
    assert len(history) == len(pd.read_csv(tmp_path / "run" / "history.csv"))


def test_nan_or_changed_weights_are_refused_naming_the_file(shell, tmp_path):
    import struct

    ip, session = shell
    ip.line("llm_save", "run")
    weights = tmp_path / "run" / "adapter_model.safetensors"
    raw = weights.read_bytes()
    start = 8 + struct.unpack("<Q", raw[:8])[0]  # safetensors: header length, header, tensor data
    data_len = len(raw) - start
    # NaN bytes of the same size over the tensor data: only the contents tell.
    weights.write_bytes(raw[:start] + struct.pack("<f", float("nan")) * (data_len // 4))
    assert weights.stat().st_size == len(raw)
    with pytest.raises(UsageError, match="adapter_model.safetensors holds NaN"):
        ip.line("llm_load", "run")
    # A finite but different value: the manifest's sha256 catches it.
    weights.write_bytes(raw[:start] + struct.pack("<f", 1.5) + raw[start + 4:])
    with pytest.raises(UsageError, match="adapter_model.safetensors is not the file that was saved"):
        ip.line("llm_load", "run")
    manifest = json.loads((tmp_path / "run" / "llm_magic.json").read_text())
    assert set(manifest["sha256"]) == set(manifest["files"])


def test_ctrl_c_during_a_save_is_one_line_and_keeps_the_previous_save(shell, tmp_path, monkeypatch):
    from llm_magic.runtime.persistence import save

    ip, session = shell
    ip.line("llm_save", "run")
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # the Stop button while the model card is written

    monkeypatch.setattr(save, "render_model_card", interrupted)
    with pytest.raises(UsageError) as err:
        ip.line("llm_save", "run")
    assert len(str(err.value).splitlines()) == 1 and "interrupted" in str(err.value)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == before


def test_ctrl_c_during_a_load_is_one_line_and_changes_nothing(shell, tmp_path, monkeypatch):
    from llm_magic.runtime.persistence import load

    ip, session = shell
    ip.line("llm_save", "run")
    config, bundle = session.config, session.models.loaded
    runs = list(session.training.runs)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # the Stop button while the saved weights are applied

    monkeypatch.setattr(load, "apply_adapter_weights", interrupted)
    with pytest.raises(UsageError, match="interrupted"):
        ip.line("llm_load", "run")
    assert session.config is config and session.models.loaded is bundle
    assert session.training.runs == runs
