"""Persistence: a fine-tuned model outlives the kernel.

Each function takes the parts it needs (the config, the loaded model bundle, training's results)
and returns a report; ``Session.save`` / ``load`` / ``merge`` / ``export`` / ``upload`` gather
the parts, call them and keep what comes back. None of them loads a model for a save.

- :func:`save_model` (``%llm_save DIR``) writes a *run folder*: the effective config and the
  config as written (:mod:`.user_config`), adapter (or full) weights, tokenizer, training
  history, final metrics and a model card.
- :func:`prepare_load` (``%llm_load DIR``) reads, checks and loads a run folder beside the
  session, for ``Session.load`` to swap in (``llm_magic.load_session(dir)`` does it for the
  kernel's session).
- :func:`merge_model` (``%llm_merge``) folds the adapter into full-precision base weights.
- :func:`export_model` (``%llm_export DIR``) writes a plain Hugging Face model folder.
- :func:`upload_folder` (``%llm_upload REPO_ID``) pushes a folder to the Hugging Face Hub.

The folder layout is described in ``docs/save-and-export.md`` and :mod:`.layout`. Importing this
package does not import torch: every heavy import happens inside the functions.
"""
from __future__ import annotations

from llm_magic.runtime.persistence.export import export_model
from llm_magic.runtime.persistence.load import prepare_load
from llm_magic.runtime.persistence.merge import merge_model
from llm_magic.runtime.persistence.save import save_model
from llm_magic.runtime.persistence.upload import upload_folder

__all__ = [
    "export_model",
    "merge_model",
    "prepare_load",
    "save_model",
    "upload_folder",
]
