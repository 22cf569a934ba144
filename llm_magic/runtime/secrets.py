"""Hugging Face tokens: the one place that knows where they come from, and keeps them out of sight.

A token may sit in ``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN`` (huggingface_hub's older name), the
login file ``huggingface-cli login`` writes (``HF_TOKEN_PATH``, default ``$HF_HOME/token``) or
the named tokens beside it (``stored_tokens``). :func:`hub_token` picks the one the Hub libraries
would use (``huggingface_hub.get_token()``'s order); :func:`known_tokens` is *all* of them, so that
:func:`redact` hides each from messages, displays and logs and :func:`check_folder` refuses a
folder we wrote that contains one. Anything shaped like a user token (``hf_`` + 20 or more
letters and digits) counts too, so a token pasted into a config is caught even when it is not
the machine's own.

Paths are read from the environment at call time (huggingface_hub reads them once, at import),
so a notebook that changes ``HF_HOME`` is followed. No torch; huggingface_hub only inside functions.
"""
from __future__ import annotations

import configparser
import os
import re
from pathlib import Path
from typing import Iterator

from llm_magic.errors import LlmMagicError

__all__ = ["TOKEN_ENV_VARS", "TOKEN_PATTERN", "check_folder", "check_text", "hub_token", "known_tokens",
           "redact"]

#: The environment variables huggingface_hub reads a token from, in its order of priority.
TOKEN_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")

#: What a Hugging Face user access token looks like.
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{20,}")

# Shorter values are too likely to occur in ordinary text to be treated as secrets.
_MIN_SECRET = 8
# Weights and other binary files: a token in them would not be text we wrote, and they are large.
_BINARY_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".pkl", ".parquet",
                    ".arrow", ".gguf", ".onnx", ".msgpack", ".h5"}
_MAX_SCAN_BYTES = 64 * 1024 * 1024


def _hf_home() -> Path:
    default = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")),
                           "huggingface")
    return Path(os.path.expandvars(os.path.expanduser(os.environ.get("HF_HOME", default))))


def _token_path() -> Path:
    path = os.environ.get("HF_TOKEN_PATH")
    return Path(os.path.expandvars(os.path.expanduser(path))) if path else _hf_home() / "token"


def _read(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8", errors="ignore").strip()
    except OSError:
        return None
    return value or None


def _stored_tokens(path: Path) -> list[str]:
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return []
    return [parser[s]["hf_token"].strip() for s in parser.sections() if parser[s].get("hf_token", "").strip()]


def hub_token() -> str | None:
    """The token the Hub libraries would use: ``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``, the login file."""
    for name in TOKEN_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return _read(_token_path())


def known_tokens() -> list[str]:
    """Every token value on this machine that we can see, longest first (for replacement)."""
    found = {os.environ.get(name, "").strip() for name in TOKEN_ENV_VARS}
    path = _token_path()
    found.add(_read(path) or "")
    found.update(_stored_tokens(path.parent / "stored_tokens"))
    try:  # whatever else huggingface_hub resolves (e.g. a Colab secret)
        # lazy: pulls huggingface_hub; load_config and %load_ext stay light
        from huggingface_hub import get_token

        found.add((get_token() or "").strip())
    except Exception:  # noqa: BLE001 - a broken hub install must not break redaction
        pass
    return sorted((t for t in found if len(t) >= _MIN_SECRET), key=len, reverse=True)


def redact(text: str, tokens: list[str] | None = None) -> str:
    """``text`` with every known token and every ``hf_...`` token-shaped string replaced."""
    if not text:
        return text
    for token in known_tokens() if tokens is None else tokens:
        text = text.replace(token, "***")
    return TOKEN_PATTERN.sub("hf_***", text)


def check_text(text: str, where: str, tokens: list[str] | None = None) -> None:
    """Refuse ``text`` (to be written to ``where``) when it holds a token."""
    tokens = known_tokens() if tokens is None else tokens
    if any(token in text for token in tokens) or TOKEN_PATTERN.search(text):
        raise LlmMagicError(
            f"{where} contains your Hugging Face token (or a token-shaped hf_... value), so it was "
            "not written. Remove the token from the config (or data): keep it only in the HF_TOKEN "
            "environment variable or `huggingface-cli login`, then try again.")


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix.lower() not in _BINARY_SUFFIXES and path.stat().st_size <= _MAX_SCAN_BYTES:
            yield path


def check_folder(directory: str | os.PathLike, extra: str | None = None, label: str | None = None) -> None:
    """Refuse a folder we wrote whose files hold a token (``extra``: one more value to look for).

    The error names the file, relative to the folder (``label``, when given, goes before it).
    """
    directory = Path(directory)
    tokens = known_tokens() + ([extra] if extra and len(extra) >= _MIN_SECRET else [])
    for path in _files(directory):
        text = path.read_bytes().decode("utf-8", errors="ignore")
        relative = path.relative_to(directory)
        check_text(text, f"{label}/{relative}" if label else str(relative), tokens)
