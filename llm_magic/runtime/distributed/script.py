"""``%llm_export_script DIR``: the session's job as a folder that ``accelerate launch`` runs anywhere.

The folder holds ``train.py`` (plain llm_magic API: set the config, train, save the run folder),
``config.yaml`` (the effective config), ``config.user.yaml`` (the config as written, which the
job loads: defaults resolved from "unset" are then resolved on the machine that trains, as in a
saved run folder, see ``runtime.persistence.user_config``), ``accelerate_config.yaml`` (the strategy, see
:mod:`.strategy`), ``ds_config.json`` for DeepSpeed, and optionally the data and the notebook's
current trainable weights. ``%llm_train --processes N`` writes the same folder and launches it,
so the notebook run and a cluster run are the same code.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import load_data
from llm_magic.runtime.distributed import strategy as _strategy
from llm_magic.runtime.distributed.worker import START_WEIGHTS_NAME, save_trainable_weights
from llm_magic.runtime.persistence.user_config import user_config_text
from llm_magic.runtime.secrets import check_text

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd
    import torch

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.data.sources import DataSource

__all__ = ["ACCELERATE_CONFIG_NAME", "CHECKPOINTS_DIR", "DATA_NAME", "ExportReport", "SCRIPT_NAME", "STOP_NAME",
           "write_job"]

SCRIPT_NAME = "train.py"
CONFIG_NAME = "config.yaml"
#: The config as the user wrote it (see ``runtime.persistence.user_config``); the job loads it.
USER_CONFIG_NAME = "config.user.yaml"
ACCELERATE_CONFIG_NAME = "accelerate_config.yaml"
DEEPSPEED_CONFIG_NAME = "ds_config.json"
DATA_NAME = "data.parquet"
RUN_DIR = "run"
CHECKPOINTS_DIR = "checkpoints"
#: Creating this file in the job folder stops every process after the same step, with a checkpoint.
STOP_NAME = "STOP"

_SCRIPT = '''\
r"""Fine-tune {base_model} as configured in config.yaml, on one or many processes.

Written by llm_magic's %llm_export_script. Every process runs this file; the Hugging Face Trainer
inside Session.train sees the launcher's environment and trains data-parallel ({strategy}).
Rank 0 saves the run folder (default: ./run), which %llm_load (or Session.load) reads back.
Creating the file STOP here stops every process after the same step, with a checkpoint in
./checkpoints/train/checkpoint-N; continue with --resume-from that folder.

    # GPUs of this machine (the accelerate config holds the strategy):
    accelerate launch --config_file accelerate_config.yaml --num_processes 4 train.py
    # several machines: run on each, with its own --machine_rank
    accelerate launch --config_file accelerate_config.yaml --num_machines 2 --num_processes 16 \\
        --machine_rank 0 --main_process_ip 10.0.0.1 --main_process_port 29500 train.py
    # CPU processes (gloo), e.g. to try it out:
    ACCELERATE_USE_CPU=true torchrun --standalone --nproc_per_node 2 train.py
"""
import argparse
from pathlib import Path

import llm_magic
from llm_magic.runtime.distributed import worker

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "{user_config_name}" if (HERE / "{user_config_name}").exists() else HERE / "{config_name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="The llm_magic config (YAML); default: as written ({user_config_name}) if "
                             "present, else the effective one ({config_name}).")
    parser.add_argument("--data", default={data_default}, help="Training data: CSV, JSON(L), Parquet, ...")
    parser.add_argument("--output", default=str(HERE / "{run_dir}"), help="Where rank 0 saves the run folder.")
    parser.add_argument("--start-weights", default={weights_default},
                        help="Trainable weights to start from (written by the notebook); none = fresh.")
    parser.add_argument("--metrics-jsonl", default=None, help="Rank 0 writes its metrics here as JSON lines.")
    parser.add_argument("--checkpoints", default=str(HERE / "{checkpoints_dir}"),
                        help="Where the trainer writes checkpoint folders (the same for every process).")
    parser.add_argument("--resume-from", default=None, metavar="CHECKPOINT",
                        help="Continue a stopped run from this checkpoint-N folder.")
    parser.add_argument("--sample-every", type=int, default=None, metavar="N",
                        help="Every N steps rank 0 logs its greedy answers to a few validation prompts.")
    parser.add_argument("--report-to", default="none", metavar="TRACKERS",
                        help="Rank 0 reports to these experiment trackers: tensorboard, mlflow, wandb, trackio.")
    parser.add_argument("--run-name", default=None, help="The trackers' run name (default: train).")
    parser.add_argument("--tracking-root", default=None,
                        help="The trackers' local stores go here (default: the checkpoints folder).")
    parser.add_argument("--stop-file", default=str(HERE / "{stop_name}"),
                        help="When this file appears, every process stops after the current step "
                             "and a checkpoint is written.")
    args = parser.parse_args()
    if args.data is None:
        parser.error("--data is required (no data was exported with this script)")

    rank = worker.setup()
    session = llm_magic.get_session()
    worker.prepare_session(session, args.checkpoints, run_name=args.run_name, tracking_root=args.tracking_root)
    worker.watch_stop_file(args.stop_file, session)
    session.set_config(Path(args.config).read_text(encoding="utf-8"))
    model = session.load_model().model
    if args.start_weights:
        worker.load_trainable_weights(model, args.start_weights)
    record = session.train(args.data, resume=args.resume_from or False,
                           sample_every=args.sample_every if rank == 0 else None,
                           loggers=worker.rank0_loggers(args.metrics_jsonl),
                           report_to=args.report_to if rank == 0 else None)
    # Whole weights on every process for the save (ZeRO-3 / FSDP hold only shards).
    with worker.gathered(model):
        if rank == 0:
            session.save(args.output)
            worker.write_result(args.output, record)
    worker.finish(args.stop_file)


if __name__ == "__main__":
    main()
'''


@dataclass
class ExportReport:
    """What was written, and the commands that run it."""

    path: Path
    strategy: str
    processes: int
    machines: int
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def launch_command(self) -> str:
        """The ``accelerate launch`` command for this folder (run on every machine)."""
        extra = (f" --num_machines {self.machines} --machine_rank <0..{self.machines - 1}> "
                 "--main_process_ip <machine 0>") if self.machines > 1 else ""
        return (f"cd {self.path} && accelerate launch --config_file {ACCELERATE_CONFIG_NAME} "
                f"--num_processes {self.processes}{extra} {SCRIPT_NAME}")

    def __repr__(self) -> str:
        lines = [f"Exported the training job to {self.path} ({self.strategy}): {', '.join(self.files)}.",
                 f"Run it:  {self.launch_command}",
                 f"CPU try-out:  cd {self.path} && ACCELERATE_USE_CPU=true torchrun --standalone "
                 f"--nproc_per_node 2 {SCRIPT_NAME}",
                 f"Stop every process after the current step, with a checkpoint:  touch {self.path / STOP_NAME}",
                 f"Then load the result with  %llm_load {self.path / RUN_DIR}"]
        return "\n".join(lines + self.notes)


def _absolute_base_model(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a relative local ``base_model`` folder made absolute: the job runs elsewhere
    (its own folder as the working directory, or another machine with the same paths)."""
    base = data.get("base_model")
    if isinstance(base, str) and not os.path.isabs(base) and os.path.isdir(base):
        return dict(data, base_model=os.path.abspath(base))
    return data


def _user_config(config: LLMConfig) -> str | None:
    """The config as the user wrote it, for ``config.user.yaml`` (None when there is none)."""
    text = user_config_text(config)
    if text is None:
        return None
    data = yaml.safe_load(text)
    fixed = _absolute_base_model(data) if isinstance(data, dict) else data
    # The text as written (comments and all) unless a path had to change.
    return text if fixed is data else yaml.safe_dump(fixed, sort_keys=False, allow_unicode=True)


def _frame(data: DataSource) -> pd.DataFrame:
    return load_data(data)


def write_job(config: LLMConfig, directory: str | Path, *, data: DataSource | None = None,
              model: torch.nn.Module | None = None,
              processes: int = 1, machines: int = 1, cpu: bool = False,
              main_process_port: int = 29500) -> ExportReport:
    """Write the job folder for ``config`` to ``directory`` (see the module docstring).

    ``data`` (a DataFrame, Dataset or path) is written as Parquet; ``model`` (the loaded model)
    contributes its current trainable weights as the start point. ``processes`` is the total
    over ``machines``; ``cpu`` writes an accelerate config for CPU processes.
    """
    plan = _strategy.resolve_plan(config)
    if machines < 1 or processes < machines:
        raise LlmMagicError(f"--processes {processes} / --machines {machines}: need at least one process per machine.")
    folder = Path(directory).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise LlmMagicError(f"{folder} is a file; give a folder for the exported job.")
    effective = _absolute_base_model(config.to_dict() if hasattr(config, "to_dict") else dict(config))
    effective_text = yaml.safe_dump(effective, sort_keys=False, allow_unicode=True)
    user = _user_config(config)
    # A token pasted into the config is refused before anything is written (runtime/secrets.py).
    for name, text in ((CONFIG_NAME, effective_text), (USER_CONFIG_NAME, user or "")):
        check_text(text, f"{folder}/{name}")
    folder.mkdir(parents=True, exist_ok=True)
    files: list[str] = []

    (folder / CONFIG_NAME).write_text(effective_text, encoding="utf-8")
    files.append(CONFIG_NAME)
    (folder / USER_CONFIG_NAME).unlink(missing_ok=True)  # a stale one from an earlier export
    if user is not None:
        (folder / USER_CONFIG_NAME).write_text(user, encoding="utf-8")
        files.append(USER_CONFIG_NAME)
    accel = _strategy.accelerate_config(plan, processes, machines=machines, cpu=cpu,
                                        main_process_port=main_process_port,
                                        deepspeed_file=DEEPSPEED_CONFIG_NAME)
    (folder / ACCELERATE_CONFIG_NAME).write_text(yaml.safe_dump(accel, sort_keys=False), encoding="utf-8")
    files.append(ACCELERATE_CONFIG_NAME)
    ds = _strategy.deepspeed_config(plan)
    if ds is not None:
        (folder / DEEPSPEED_CONFIG_NAME).write_text(json.dumps(ds, indent=2), encoding="utf-8")
        files.append(DEEPSPEED_CONFIG_NAME)
    if data is not None:
        _frame(data).to_parquet(folder / DATA_NAME, index=False)
        files.append(DATA_NAME)
    if model is not None:
        save_trainable_weights(model, folder / START_WEIGHTS_NAME)
        files.append(START_WEIGHTS_NAME)
    script = _SCRIPT.format(
        base_model=effective.get("base_model"), strategy=plan.describe(), config_name=CONFIG_NAME,
        user_config_name=USER_CONFIG_NAME,
        run_dir=RUN_DIR, checkpoints_dir=CHECKPOINTS_DIR, stop_name=STOP_NAME,
        data_default=f'str(HERE / "{DATA_NAME}")' if data is not None else "None",
        weights_default=f'str(HERE / "{START_WEIGHTS_NAME}")' if model is not None else "None",
    )
    (folder / SCRIPT_NAME).write_text(script, encoding="utf-8")
    files.insert(0, SCRIPT_NAME)
    notes = []
    if data is None:
        notes.append("No data was exported: pass --data <file> to train.py.")
    if machines > 1:
        notes.append(f"Set main_process_ip in {ACCELERATE_CONFIG_NAME} (or pass --main_process_ip) to "
                     "machine 0's address; every machine needs this folder and llm_magic installed.")
    return ExportReport(folder, plan.describe(), processes, machines, files, notes)
