"""Tokens never leak: every token the Hub libraries could use is hidden from output and files.

Issue 14 item 5: only HF_TOKEN's value was checked. Here three different tokens sit in
HF_TOKEN, HUGGING_FACE_HUB_TOKEN and the login file (HF_HOME points at a temporary folder), and a
fourth, token-shaped value is pasted into the config. Every output and every file written must hold
none of them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError

from llm_magic.errors import LlmMagicError
from llm_magic.runtime import secrets

ENV_TOKEN = "hf_envTOKENaaaaaaaaaaaaaaaaaaaaaaaa1"
LEGACY_TOKEN = "hf_legacyTOKENbbbbbbbbbbbbbbbbbbbbb2"
LOGIN_TOKEN = "hf_loginTOKENccccccccccccccccccccccc3"
PASTED_TOKEN = "hf_pastedTOKENddddddddddddddddddddd4"
ALL = (ENV_TOKEN, LEGACY_TOKEN, LOGIN_TOKEN, PASTED_TOKEN)


@pytest.fixture
def tokens(tmp_path, monkeypatch):
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / "token").write_text(LOGIN_TOKEN + "\n")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", LEGACY_TOKEN)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def _leaks(text: str) -> list[str]:
    return [t for t in ALL if t in text]


def _files_leaking(root: Path) -> list[str]:
    # Every file under root except the login file itself (HF_HOME is under tmp_path too).
    return [str(p) for p in root.rglob("*") if p.is_file() and "hf-home" not in p.parts
            and _leaks(p.read_bytes().decode("utf-8", "ignore"))]


def test_resolver_sees_every_source_in_the_hub_order(tokens, monkeypatch):
    assert set(secrets.known_tokens()) >= {ENV_TOKEN, LEGACY_TOKEN, LOGIN_TOKEN}
    assert secrets.hub_token() == ENV_TOKEN
    monkeypatch.delenv("HF_TOKEN")
    assert secrets.hub_token() == LEGACY_TOKEN
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN")
    assert secrets.hub_token() == LOGIN_TOKEN  # huggingface-cli login
    custom = tokens / "elsewhere"
    custom.write_text("hf_customPATHeeeeeeeeeeeeeeeeeeeeeee5")
    monkeypatch.setenv("HF_TOKEN_PATH", str(custom))
    assert secrets.hub_token() == "hf_customPATHeeeeeeeeeeeeeeeeeeeeeee5"


def test_redact_hides_all_known_tokens_and_token_shapes(tokens):
    text = " / ".join(ALL) + " short hf_abc stays"
    redacted = secrets.redact(text)
    assert not _leaks(redacted) and "hf_abc stays" in redacted and "***" in redacted


CONFIG = """\
model_type: llm
base_model: {model}
input_features: [{{name: word, type: text}}]
output_features: [{{name: answer, type: text}}]
prompt: {{template: "{template}"}}
adapter: {{type: lora, r: 4, target_modules: [q_proj, v_proj]}}
trainer: {{type: finetune, epochs: 1}}
"""


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("secrets-llama"))


def test_error_messages_never_echo_a_token(ip, session, tokens, capsys):
    cases = [
        # a config value echoed by validation
        CONFIG.format(model="llm-magic/tiny", template="Say {word}:") + f"generation: {{temperature: {ENV_TOKEN}}}\n",
        # a hub id that holds a token, loaded offline: "cannot load hf_.../model"
        CONFIG.format(model=f"{LOGIN_TOKEN}/model", template="Say {word}:"),
        CONFIG.format(model=f"{PASTED_TOKEN}/x", template="Say {word}:"),
    ]
    for index, cell in enumerate(cases):
        with pytest.raises(UsageError) as info:
            ip.cell("llm_config", "--load", cell)
        message = str(info.value)
        assert not _leaks(message), message
        assert "***" in message, message
    out = capsys.readouterr()
    assert not _leaks(out.out + out.err)


def test_config_display_hides_a_pasted_token(ip, session, tokens, capsys):
    ip.cell("llm_config", "", CONFIG.format(model="llm-magic/tiny", template=f"{LEGACY_TOKEN} {{word}}:"))
    from llm_magic.widgets.config_view import ConfigView

    view = ConfigView(session.config, session.config_name)
    shown = capsys.readouterr().out + repr(view) + view._repr_html_()
    assert "prompt.template" in shown and not _leaks(shown)


def test_files_we_write_refuse_a_token_and_hold_none_otherwise(ip, session, tokens, tiny_dir, tmp_path,
                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ip.user_ns["df"] = pd.DataFrame({"word": ["a", "b", "c", "d"], "answer": [" a", " b", " c", " d"]})
    # A token pasted into the config: save and export-script refuse, and write no token anywhere.
    for pasted in (PASTED_TOKEN, ENV_TOKEN, LOGIN_TOKEN):
        ip.cell("llm_config", "", CONFIG.format(model=tiny_dir, template=f"{pasted} {{word}}:"))
        session.load_model()
        with pytest.raises(UsageError) as info:
            ip.line("llm_save", "leaky-run")
        assert "config" in str(info.value) and "token" in str(info.value) and not _leaks(str(info.value))
        with pytest.raises(UsageError) as info:
            ip.line("llm_export_script", "leaky-job --data df")
        assert "token" in str(info.value) and not _leaks(str(info.value))
    assert not _files_leaking(tmp_path), _files_leaking(tmp_path)
    # A clean config with all three tokens in the environment: everything written is clean.
    ip.cell("llm_config", "", CONFIG.format(model=tiny_dir, template="Say {word}:"))
    ip.line("llm_train", "--data df")
    ip.line("llm_save", "run")
    ip.line("llm_export_script", "job --data df")
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "hf-home" not in p.parts]
    assert any(p.name == "config.yaml" for p in written) and any(p.suffix == ".md" for p in written)
    assert (tmp_path / "job" / "train.py").is_file()
    assert not _files_leaking(tmp_path), _files_leaking(tmp_path)
    out = capsys.readouterr()
    assert not _leaks(out.out + out.err)


def test_check_folder_names_the_file(tokens, tmp_path):
    (tmp_path / "out" / "sub").mkdir(parents=True)
    (tmp_path / "out" / "sub" / "notes.txt").write_text(f"token={LOGIN_TOKEN}")
    with pytest.raises(LlmMagicError, match=r"sub/notes.txt contains your Hugging Face token") as info:
        secrets.check_folder(tmp_path / "out")
    assert LOGIN_TOKEN not in str(info.value)


def test_run_notes_and_records_hide_a_token(ip, session, tokens, tiny_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ip.user_ns["df"] = pd.DataFrame({"word": ["a", "b", "c", "d"], "answer": [" a", " b", " c", " d"]})
    # ludwig_version is accepted without effect, so the run's notes quote its value.
    ip.cell("llm_config", "", CONFIG.format(model=tiny_dir, template="Say {word}:")
            + f"ludwig_version: {PASTED_TOKEN}\n")
    ip.line("llm_train", "--data df")
    out = capsys.readouterr()
    assert "ludwig_version" in out.out and not _leaks(out.out + out.err)
    from llm_magic.runtime.training.runs import training_state

    assert not _leaks(" ".join(training_state(session).runs[-1].notes))


def test_a_token_in_a_library_log_record_is_redacted(monkeypatch):
    """transformers (and the other model libraries) log through their own loggers: a token they
    quote is redacted in the record itself, whatever handler prints it."""
    import logging

    import llm_magic.runtime  # noqa: F401  (installs the redaction)

    token = "hf_" + "Q" * 30
    monkeypatch.setenv("HF_TOKEN", token)
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    handler = Keep()
    for name in ("transformers.modeling_utils", "huggingface_hub.file_download", "myapp"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        try:
            logger.error("request with header Bearer %s failed", token)  # transformers may be at ERROR
        finally:
            logger.removeHandler(handler)
    assert seen[0] == seen[1] == "request with header Bearer *** failed"
    assert token in seen[2]  # the user's own loggers are theirs
