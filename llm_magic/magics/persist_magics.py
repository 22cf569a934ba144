"""``%llm_save``, ``%llm_load``, ``%llm_merge``, ``%llm_export``, ``%llm_upload``: models that
outlive the kernel.

Each magic parses its flags and calls the matching ``Session`` method (``runtime.persistence``
does the work); the returned report is the cell's value, so the notebook shows what was done.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from llm_magic.errors import LlmMagicError
from llm_magic.magics._common import user_errors
from llm_magic.runtime.session import get_session

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.persistence.export import ExportReport
    from llm_magic.runtime.persistence.load import LoadReport
    from llm_magic.runtime.persistence.merge import MergeReport
    from llm_magic.runtime.persistence.save import SaveReport
    from llm_magic.runtime.persistence.upload import UploadReport

__all__ = ["PersistMagics"]


def _path(value: Any, magic: str) -> str:
    text = " ".join(value) if isinstance(value, list) else (value or "")
    text = text.strip().strip("'\"")
    if not text:
        raise LlmMagicError(f"%{magic} needs a folder, e.g. %{magic} models/my-run.")
    return text


@magics_class
class PersistMagics(Magics):
    """Save, load, merge, export and upload fine-tuned models."""

    @magic_arguments()
    @argument("directory", nargs="*", help="Folder to write (created; a previous save there is replaced).")
    @argument("--no-checkpoint", action="store_true",
              help="Do not copy the last trainer checkpoint (then --resume cannot use this folder).")
    @argument("--overwrite", action="store_true",
              help="Write into a non-empty folder llm_magic did not write (its files are kept).")
    @line_magic
    @user_errors
    def llm_save(self, line: str = "") -> SaveReport:
        """Save the session to a folder: config.yaml (effective) and config.user.yaml (as you wrote
        it; %llm_load reads it), adapter (or full) weights as safetensors, tokenizer, history.csv,
        metrics.json, the last checkpoint and a README.md model card.

        Usage: %llm_save DIR [--no-checkpoint] [--overwrite]
        """
        args = parse_argstring(self.llm_save, line)
        return get_session().save(_path(args.directory, "llm_save"), checkpoint=not args.no_checkpoint,
                                  overwrite=args.overwrite)

    @magic_arguments()
    @argument("directory", nargs="*", help="A folder written by %%llm_save.")
    @argument("--name", default=None, help="Store the config under this name (default: its saved name).")
    @line_magic
    @user_errors
    def llm_load(self, line: str = "") -> LoadReport:
        """Restore a folder written by %llm_save: config, base model, adapter weights, history and
        metrics. The current model is replaced; if anything is wrong with the folder, the session
        stays as it was.

        Usage: %llm_load DIR [--name NAME]
        """
        args = parse_argstring(self.llm_load, line)
        return get_session().load(_path(args.directory, "llm_load"), name=args.name)

    @line_magic
    @user_errors
    def llm_merge(self, line: str = "") -> MergeReport:
        """Merge the adapter into the base weights (a quantized base is reloaded in full precision
        first). The session keeps its adapter model; %llm_export writes the merged one.

        Usage: %llm_merge
        """
        if line.strip():
            raise LlmMagicError(f"%llm_merge takes no arguments (got {line.strip()!r}).")
        return get_session().merge()

    @magic_arguments()
    @argument("directory", nargs="*", help="Folder to write the Hugging Face model to.")
    @line_magic
    @user_errors
    def llm_export(self, line: str = "") -> ExportReport:
        """Write a standard Hugging Face model folder (config.json, model.safetensors, tokenizer,
        generation_config.json) that loads with transformers alone; an adapter is merged first.

        Usage: %llm_export DIR
        """
        args = parse_argstring(self.llm_export, line)
        return get_session().export(_path(args.directory, "llm_export"))

    @magic_arguments()
    @argument("repo_id", help="Hub repository, NAME or ORG/NAME (created if missing).")
    @argument("--dir", default=None, help="Folder to upload (default: the last %%llm_save/%%llm_export).")
    @argument("--private", action="store_true", help="Create the repository as private.")
    @argument("--commit-message", default=None, help="Commit message on the Hub.")
    @line_magic
    @user_errors
    def llm_upload(self, line: str = "") -> UploadReport:
        """Upload a saved or exported folder to the Hugging Face Hub with the token from HF_TOKEN
        (or HUGGING_FACE_HUB_TOKEN). The token is never printed or saved.

        Usage: %llm_upload REPO_ID [--dir DIR] [--private] [--commit-message MESSAGE]
        """
        args = parse_argstring(self.llm_upload, line)
        # IPython's argument splitting keeps quotes; a quoted message or path means its content.
        directory = args.dir.strip("'\"") if args.dir else None
        message = args.commit_message.strip("'\"") if args.commit_message else None
        return get_session().upload(args.repo_id, directory, private=args.private, commit_message=message)
