"""Persistence: a fine-tuned model outlives the kernel.

- :func:`save_session` (``%llm_save DIR``) writes a *run folder*: the effective config and the
  config as written (:mod:`.user_config`), adapter (or full) weights, tokenizer, training
  history, final metrics and a model card.
- :func:`restore_into` (``%llm_load DIR``) brings a run folder back into a session, validating
  everything before the session is touched (``llm_magic.load_session(dir)`` does it for the
  kernel's session).
- :func:`merge_session` (``%llm_merge``) folds the adapter into full-precision base weights.
- :func:`export_session` (``%llm_export DIR``) writes a plain Hugging Face model folder.
- :func:`upload_folder` (``%llm_upload REPO_ID``) pushes a folder to the Hugging Face Hub.

The folder layout is described in ``docs/save-and-export.md`` and :mod:`.layout`. Importing this
package does not import torch: every heavy import happens inside the functions.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "export_session",
    "merge_session",
    "restore_into",
    "save_session",
    "upload_folder",
]

_LAZY = {
    "save_session": "save",
    "restore_into": "load",
    "merge_session": "merge",
    "export_session": "export",
    "upload_folder": "upload",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
