"""Upload through huggingface_hub.HfApi, without network: the library's methods are recorded."""
from __future__ import annotations

import pytest
from huggingface_hub import HfApi

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.persistence.upload import upload_folder

SECRET = "hf_test" + "Z" * 30


@pytest.fixture
def folder(tmp_path):
    """A small folder shaped like a save: config, weights, card, and a checkpoint not to upload."""
    path = tmp_path / "run"
    (path / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (path / "config.yaml").write_text("base_model: x\n")
    (path / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    (path / "README.md").write_text("# card\n")
    (path / "checkpoints" / "checkpoint-2" / "optimizer.pt").write_bytes(b"\0")
    return path


@pytest.fixture
def hub_calls(monkeypatch):
    """Record HfApi.create_repo / upload_folder calls (and what the folder held at that time)."""
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs, self.token))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        from pathlib import Path

        from huggingface_hub.utils import filter_repo_objects

        root = Path(kwargs["folder_path"])
        names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        kept = sorted(filter_repo_objects(names, ignore_patterns=kwargs.get("ignore_patterns")))
        calls.append(("upload_folder", kwargs["repo_id"], {**kwargs, "kept": kept}, self.token))

        class Commit:
            repo_url = f"https://huggingface.co/{kwargs['repo_id']}"

        return Commit()

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_upload_creates_the_repo_and_uploads_the_folder(folder, hub_calls, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    report = upload_folder(folder, "me/tiny-lora", private=True, commit_message="first")
    (create, cid, ckw, ctoken), (upload, uid, ukw, utoken) = hub_calls
    assert (create, cid) == ("create_repo", "me/tiny-lora")
    assert ckw["private"] is True and ckw["exist_ok"] is True and ckw["token"] == SECRET
    assert (upload, uid) == ("upload_folder", "me/tiny-lora")
    assert ukw["commit_message"] == "first" and ukw["token"] == SECRET and ctoken == utoken == SECRET
    assert ukw["kept"] == ["README.md", "adapter_model.safetensors", "config.yaml"]
    assert "me/tiny-lora" in repr(report) and "private" in repr(report)
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err + repr(report)


def test_no_token_is_a_clear_error(folder, hub_calls, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(LlmMagicError, match="No Hugging Face token: set the HF_TOKEN"):
        upload_folder(folder, "me/tiny-lora")
    assert hub_calls == []


def test_the_legacy_token_variable_works(folder, hub_calls, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", SECRET)
    upload_folder(folder, "me/tiny-lora")
    assert hub_calls[1][2]["token"] == SECRET


def test_bad_repo_id_and_empty_folder_are_refused(folder, tmp_path, hub_calls, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    with pytest.raises(LlmMagicError, match="not a valid Hub repo id"):
        upload_folder(folder, "me/bad name!")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LlmMagicError, match="holds no model"):
        upload_folder(tmp_path / "empty", "me/x")
    assert hub_calls == []


def test_hub_errors_never_show_the_token(folder, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)

    def failing(self, repo_id, **kwargs):
        raise RuntimeError(f"401 Unauthorized for token {kwargs['token']}")

    monkeypatch.setattr(HfApi, "create_repo", failing)
    with pytest.raises(LlmMagicError, match="Upload to me/x failed: 401") as err:
        upload_folder(folder, "me/x")
    assert SECRET not in str(err.value) and "***" in str(err.value)


def test_a_folder_containing_the_token_is_not_uploaded(folder, hub_calls, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    (folder / "notes.txt").write_text(f"token={SECRET}")
    with pytest.raises(LlmMagicError, match="notes.txt contains your Hugging Face token"):
        upload_folder(folder, "me/x")
    assert hub_calls == []
