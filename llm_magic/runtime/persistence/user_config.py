"""``config.user.yaml``: the config as the user wrote it, saved beside the effective ``config.yaml``.

``config.yaml`` has every default filled in; loaded back, each of those defaults would count as
set by the user (pydantic's ``model_fields_set``), and values resolved from "unset" would change:
an unset ``quantization.bnb_4bit_compute_dtype`` computes in float32 on the CPU
(``runtime.models.quantization``), an explicit float16 does not. So a save also writes
:attr:`LLMConfig.source` (YAML text as written, a dict through ``yaml.safe_dump``) and a load
builds the config from it, which gives back the same set and unset keys.

``config.yaml`` stays the authority on what the model is: the user config is only written when
it loads to the same effective config, and only read when it still does (a hand-edited
``config.yaml`` wins, with a note).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml
from pydantic_core import to_jsonable_python

from llm_magic.errors import CheckpointError, ConfigError
from llm_magic.runtime.config import load_config
from llm_magic.runtime.config.yaml_lines import safe_load
from llm_magic.runtime.persistence import layout

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.config import LLMConfig

__all__ = ["for_folder", "load_user_config", "read_user_config", "user_config_text"]


def _yaml_text(source: Any) -> str | None:
    if isinstance(source, str):
        return source if source.endswith("\n") else source + "\n"
    if isinstance(source, Mapping):
        # Paths and tuples a Python caller may have used become plain YAML values.
        return yaml.safe_dump(to_jsonable_python(dict(source)), sort_keys=False, allow_unicode=True)
    return None


def user_config_text(config: LLMConfig) -> str | None:
    """The text to write as ``config.user.yaml`` for ``config``, or None when there is none.

    None when the config has no source (built without :func:`~llm_magic.load_config`) or its
    source no longer describes it (changed in place after loading): then ``config.yaml`` alone
    is saved, and loading it back marks every key as set (the behaviour of older folders).
    """
    text = _yaml_text(config.source)
    if text is None:
        return None
    try:
        same = load_config(text).to_dict() == config.to_dict()
    except ConfigError:
        return None
    return text if same else None


def read_user_config(path: Path) -> str | None:
    """The text of ``config.user.yaml`` in the run folder ``path``, or None (older folders)."""
    where = path / layout.USER_CONFIG_NAME
    if not where.is_file():
        return None
    return where.read_text(encoding="utf-8")


def for_folder(data: dict[str, Any], kind: str, path: Path) -> tuple[dict[str, Any], bool]:
    """``data`` rewritten so the model is built from the folder's weights; and whether it changed.

    A full fine-tune's weights *are* the model now, so ``base_model`` points at the folder; a
    trained adapter is in the folder, so ``pretrained_adapter_weights`` is not fetched again.
    """
    out = dict(data)
    if kind == "full":
        out["base_model"] = str(path)
    adapter = out.get("adapter")
    if isinstance(adapter, dict) and adapter.get("pretrained_adapter_weights"):
        out["adapter"] = {k: v for k, v in adapter.items() if k != "pretrained_adapter_weights"}
    return out, out != data


def load_user_config(text: str, kind: str, path: Path) -> LLMConfig:
    """Build the LLMConfig of a folder from its ``config.user.yaml`` text.

    Kept as the text when the folder needs no rewrite (so ``config.source`` and the YAML line
    numbers are what the user wrote); otherwise from the rewritten mapping.
    """
    where = path / layout.USER_CONFIG_NAME
    try:
        data = safe_load(text)  # alias-capped: a folder may come from someone else
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{where} is not valid YAML ({exc}).") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{where} does not hold a config mapping.")
    rewritten, changed = for_folder(data, kind, path)
    try:
        return load_config(rewritten if changed else text)
    except ConfigError as exc:
        raise CheckpointError(f"{where} is not a valid config:\n{exc}") from None
