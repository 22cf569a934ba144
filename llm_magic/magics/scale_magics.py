"""``%llm_export_script DIR``: the session's training job as a folder that ``accelerate launch`` runs.

Multi-process training in the notebook itself is ``%llm_train --processes N`` (in train_magics);
both go through ``llm_magic.runtime.distributed``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from llm_magic.errors import LlmMagicError
from llm_magic.magics._common import resolve_data_arg, user_errors
from llm_magic.runtime.session import get_session

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.distributed.script import ExportReport as JobFolderReport

__all__ = ["ScaleMagics"]


@magics_class
class ScaleMagics(Magics):
    """Take the session's training job to several GPUs and machines."""

    @magic_arguments()
    @argument("directory", nargs="*", help="Folder to write train.py, config.yaml and accelerate_config.yaml to.")
    @argument("--data", default=None,
              help="A DataFrame / datasets.Dataset variable or a data file to ship (Parquet); default: the bound data.")
    @argument("--processes", type=int, default=None, metavar="N",
              help="Processes in all (one per GPU); default: this machine's GPUs, or 2.")
    @argument("--machines", type=int, default=1, metavar="M", help="Machines the job spans (default 1).")
    @argument("--fresh", action="store_true",
              help="Start from the base model and a new adapter, not from the notebook's current weights.")
    @line_magic
    @user_errors
    def llm_export_script(self, line: str = "") -> JobFolderReport:
        """Write a standalone training job: train.py (llm_magic's Python API), the effective
        config.yaml, accelerate_config.yaml for backend.strategy (DDP, FSDP or DeepSpeed ZeRO),
        the data and the current trainable weights. Run it on a cluster with
        ``accelerate launch --config_file accelerate_config.yaml train.py``; rank 0 saves a run
        folder (DIR/run) that %llm_load reads. Examples::

            %llm_export_script jobs/sentiment --processes 8
            %llm_export_script jobs/sentiment --processes 16 --machines 2 --data train.parquet
        """
        args = parse_argstring(self.llm_export_script, line)
        directory = " ".join(args.directory).strip().strip("'\"")
        if not directory:
            raise LlmMagicError("%llm_export_script needs a folder, e.g. %llm_export_script jobs/my-run.")
        if args.processes is not None and args.processes < 1:
            raise LlmMagicError(f"--processes {args.processes}: expected a positive number of processes.")
        if args.machines < 1:
            raise LlmMagicError(f"--machines {args.machines}: expected a positive number of machines.")
        return get_session().export_script(directory, data=resolve_data_arg(self.shell, args.data),
                                           processes=args.processes, machines=args.machines,
                                           include_weights=not args.fresh)
