"""``%llm_train --processes N``: train the session's config on N processes and take the weights back.

The job folder of :mod:`.script` is written under the run's output folder and launched as
separate processes:

- on the CPU with ``torchrun`` (gloo): ``accelerate launch`` only starts several CPU processes
  through ``mpirun``, and ``accelerate.debug_launcher`` forks the kernel itself;
- on GPUs with ``accelerate launch --config_file accelerate_config.yaml`` (DDP, FSDP, DeepSpeed).
  ``accelerate.notebook_launcher`` is not used: it forks the kernel, which it refuses (rightly)
  once CUDA is initialised, and the session's model is usually on the GPU already.

Fresh processes cost a few seconds of start-up, but they run exactly the script a cluster would,
cannot inherit a half-initialised CUDA context or the kernel's threads, and die cleanly on Stop.
Rank 0 writes its metrics as JSON lines, which this module tails into the session's loggers (the
live plot), and saves a run folder; its weights are loaded into the session's model at the end.
Stop creates the job's stop file: every process stops after the same step and writes a
checkpoint, and the weights come back as after a one-process stop (``--resume`` continues, on
any number of processes). A failed launch leaves the session's weights as they were.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from llm_magic.errors import CheckpointError, LlmMagicError
from llm_magic.runtime.distributed import script as _script
from llm_magic.runtime.distributed import strategy as _strategy
from llm_magic.runtime.distributed.worker import RESULT_NAME
from llm_magic.runtime.persistence import layout
from llm_magic.runtime.persistence.load import apply_adapter_weights
from llm_magic.runtime.training.api import announce_end, dispatch, final_test_report, start_run
from llm_magic.runtime.training.job import open_record, plan_job
from llm_magic.runtime.training.loggers import EVENTS, MetricLogger
from llm_magic.runtime.training.runs import recorded, training_state

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Iterable

    import torch

    from llm_magic.runtime.data.sources import DataSource
    from llm_magic.runtime.models.loader import LoadedModel
    from llm_magic.runtime.session import Session
    from llm_magic.runtime.training.job import FinetuneJob
    from llm_magic.runtime.training.runs import RunRecord, TrainingState

__all__ = ["launch_command", "train_distributed"]

LOG_NAME = "metrics.jsonl"
OUTPUT_NAME = "launch.log"
# How often the notebook side reads new metric lines (seconds).
POLL_SECONDS = 0.2
#: After a stop, how long the processes get to finish the step and write their checkpoint
#: before they are ended (seconds; a large model's checkpoint takes a while).
STOP_GRACE_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(job: Path, launch: "Launch", *, port: int | None = None) -> list[str]:
    """The command that runs ``job``'s ``train.py`` as ``launch`` says, on this machine."""
    args = [_script.SCRIPT_NAME, "--metrics-jsonl", LOG_NAME]
    if launch.resume_from:
        args += ["--resume-from", str(launch.resume_from)]
    if launch.sample_every:
        args += ["--sample-every", str(launch.sample_every)]
    if launch.report_to:
        args += ["--report-to", ",".join(launch.report_to), "--run-name", launch.run_name or "train",
                 "--tracking-root", str(launch.tracking_root)]
    if launch.cpu:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", str(launch.processes), *args]
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", _script.ACCELERATE_CONFIG_NAME,
            "--num_processes", str(launch.processes), "--main_process_port", str(port or _free_port()), *args]


class _Tail:
    """Reads complete new lines of rank 0's JSON-lines log and replays them into loggers."""

    def __init__(self, path: Path, loggers: Sequence[MetricLogger]) -> None:
        self.path, self.loggers, self.offset = path, list(loggers), 0

    def pump(self) -> None:
        """Forward every complete line written since the last call."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
        self.offset += end
        for line in chunk[:end].decode("utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            for logger in self.loggers:
                if "log_dict" in entry:
                    logger.log_dict(entry["log_dict"], entry["step"])
                else:  # an event, to its typed method (worker.JsonlLogger wrote it)
                    getattr(logger, EVENTS[entry["event"]])(entry["value"], entry["step"])


def _stop(process: subprocess.Popen) -> None:
    """End the launcher and every process it started (they share its process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _output_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    keep = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(keep)


def train_distributed(session: Session, data: DataSource | None = None, *, processes: int,
                      resume: bool | str = False, sample_every: int | None = None, background: bool = False,
                      loggers: Sequence[MetricLogger] | Callable[[RunRecord], Sequence[MetricLogger]] | None = None,
                      report_to: str | Iterable[str] | None = None, stop_grace: float | None = None,
                      cache_dir: str | None = None) -> RunRecord:
    """Fine-tune on ``processes`` processes as ``backend.strategy`` says; returns the run record.

    Checks everything it can first (config, strategy, this machine, data) and refuses with a
    clear error before any process starts. ``resume``, ``sample_every`` and ``loggers`` as for
    ``Session.train``; a stopped run (one- or multi-process) resumes on any number of processes.
    ``report_to`` as for ``Session.train``: only rank 0 reports, under this run's id.
    ``stop_grace`` (seconds; None: :data:`STOP_GRACE_SECONDS`) and ``cache_dir`` (None: the
    session's ``Settings.cache_dir``, itself None: ``$LLM_MAGIC_CACHE``) come from the session's
    ``Settings``.
    """
    # The same checks, in the same order, as a run in the kernel (training.job), before any process starts.
    job = plan_job(session, data, resume=resume, report_to=report_to, sample_every=sample_every)
    if cache_dir is not None:
        job = job.replace(cache_dir=cache_dir)
    plan = _strategy.resolve_plan(job.config)
    if sample_every and (plan.shards_parameters or plan.deepspeed_file):
        raise LlmMagicError(
            f"--sample-every with {plan.describe()}: each process holds only a shard of the weights, so "
            "rank 0 cannot generate alone. Drop --sample-every, or use backend.strategy: ddp (or ZeRO-1/2)."
        )
    _strategy.check_runnable(plan, processes)
    # lazy: pulls torch; %load_ext stays light
    import torch

    cpu = not torch.cuda.is_available()
    state = training_state(session)
    bound = job.data  # what becomes the session's data; the processes and the test report read the frame
    job = job.replace(data=_script._frame(job.data))
    bundle = session.load_model()
    note = (f"{processes} processes, {plan.describe()}; each process takes trainer.batch_size rows per step, "
            f"so a step sees {processes}x as many rows as one process.")
    job, record = open_record(state, job, notes=[note])
    _script.write_job(job.config, _folder(job), data=job.data, model=bundle.model, processes=processes, cpu=cpu)
    loggers = start_run(state, record, loggers)
    launch = Launch.of(job, processes, cpu, tracking_root=os.path.abspath(state.output_root), stop_grace=stop_grace)

    def execute() -> None:
        _run(job, launch, bundle, record, state, loggers)

    return dispatch(session, state, record, execute, data=bound, background=background,
                    busy=f"training run {record.run_id} ({processes} processes) is in progress")


def _folder(job: FinetuneJob) -> Path:
    """The job folder a launch runs (``train.py`` and its files), in the run's output folder."""
    return Path(job.output_dir) / "job"


@dataclass
class Launch:
    """What one launch of a job folder runs: how many processes where, and from which checkpoint."""

    processes: int
    cpu: bool
    resume_from: str | None = None
    sample_every: int | None = None
    #: Experiment trackers rank 0 reports to, under ``run_name``, with local stores in ``tracking_root``.
    report_to: tuple[str, ...] = ()
    run_name: str | None = None
    tracking_root: str | None = None
    #: Seconds the processes get to write their checkpoint after a stop (None: STOP_GRACE_SECONDS).
    stop_grace: float | None = None
    #: llm_magic's cache folder for the processes (None: theirs is the notebook's $LLM_MAGIC_CACHE).
    cache_dir: str | None = None

    @classmethod
    def of(cls, job: FinetuneJob, processes: int, cpu: bool, *, tracking_root: str | None,
           stop_grace: float | None) -> "Launch":
        """The launch of ``job`` (a bound :class:`~llm_magic.runtime.training.job.FinetuneJob`) on ``processes``."""
        return cls(processes, cpu, job.resume_from, job.sample_every, tuple(job.trackers), job.run_id,
                   tracking_root, stop_grace, job.cache_dir)


def _run(job: FinetuneJob, launch: Launch, bundle: LoadedModel, record: RunRecord, state: TrainingState,
         loggers: list[MetricLogger]) -> None:
    """The multi-process executor's body: launch, tail the metrics until the processes end, take the result back.

    A stop (event, Stop button, first Ctrl-C) creates the job's stop file: the processes finish
    the step, write a checkpoint and exit normally, and their weights come back. Only if they
    take longer than ``launch.stop_grace`` (default :data:`STOP_GRACE_SECONDS`), or on a second
    Ctrl-C, are they ended.
    """
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.training.runner import SigintToStop

    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    if launch.cpu:
        env["ACCELERATE_USE_CPU"] = "true"
    if launch.cache_dir:  # the processes build their own retrieval index: in the folder the user chose
        env["LLM_MAGIC_CACHE"] = os.path.abspath(os.path.expanduser(launch.cache_dir))
    # Read at launch, not import, so the module default can still be changed (tests shorten it).
    grace = launch.stop_grace if launch.stop_grace is not None else STOP_GRACE_SECONDS
    folder = _folder(job)
    output, stop_file = folder / OUTPUT_NAME, folder / _script.STOP_NAME
    for stale in (folder / LOG_NAME, stop_file, folder / _script.RUN_DIR / RESULT_NAME):
        stale.unlink(missing_ok=True)
    tail = _Tail(folder / LOG_NAME, loggers)
    ended = False
    with recorded(record, loggers):
        try:
            with open(output, "ab") as out, SigintToStop(state.stop_event):
                # Its own process group, so ending it ends the launcher and all of its workers together.
                process = subprocess.Popen(launch_command(folder, launch), cwd=folder, env=env, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)
                asked: float | None = None
                try:
                    while process.poll() is None:
                        tail.pump()
                        if state.stop_event.is_set() and asked is None:
                            stop_file.touch()
                            asked = time.monotonic()
                        if asked is not None and time.monotonic() - asked > grace:
                            _stop(process)
                            ended = True
                            break
                        time.sleep(POLL_SECONDS)
                except BaseException:  # a second Ctrl-C or a logger error: never leave workers running
                    _stop(process)
                    raise
            tail.pump()
            if ended:
                record.status = "stopped"
                record.notes.append(f"Stopped: the processes did not write their checkpoint within "
                                    f"{grace:g} s and were ended; the session's weights are unchanged.")
            elif process.returncode != 0:
                raise LlmMagicError(
                    f"The {launch.processes} training processes failed (exit code {process.returncode}); the "
                    f"session's weights are unchanged. Last output ({output}):\n{_output_tail(output)}"
                )
            else:
                _take_back(job, launch, bundle, record, state)
            announce_end(record, loggers)
        except KeyboardInterrupt:
            record.status = "stopped"
            record.notes.append("Interrupted twice: the processes were ended without a checkpoint; the "
                                "session's weights are unchanged.")
            raise


def _take_back(job: FinetuneJob, launch: Launch, bundle: LoadedModel, record: RunRecord, state: TrainingState) -> None:
    """Load rank 0's weights into the session's model; copy its outcome, history and test metrics.

    A stopped run comes back like a one-process stop: the weights reached so far, and the
    checkpoint to resume from.
    """
    run_dir = _folder(job) / _script.RUN_DIR
    result = json.loads((run_dir / RESULT_NAME).read_text(encoding="utf-8"))
    manifest = layout.read_manifest(run_dir)
    if manifest.kind == "adapter":
        apply_adapter_weights(bundle.model, run_dir, manifest.adapter_names)
    else:
        _load_full_weights(bundle.model, run_dir)
    # Rank 0's run folder holds these exact weights (a folder %llm_load reads).
    bundle.trained_by, bundle.kept_in = record.run_id, str(run_dir)
    for key in ("status", "global_step", "max_steps", "best_step", "best_metric", "train_rows"):
        setattr(record, key, result.get(key))
    record.global_step = record.global_step or 0
    record.metrics.update(result.get("metrics") or {})
    record.tracking.update(result.get("tracking") or {})
    # The worker's own "Stopped at step ..." advice names its folder and one-process resume.
    record.notes += [n for n in result.get("notes") or [] if n not in record.notes and not n.startswith("Stopped")]
    record.checkpoint = result.get("checkpoint")
    if record.status == "stopped":
        record.notes.append(
            f"Stopped at step {record.global_step}: all {launch.processes} processes stopped after it; the "
            f"weights reached so far are in the session and a checkpoint is in {record.checkpoint}. Continue "
            f"with %llm_train --resume --processes {launch.processes} (or on one process: %llm_train --resume)."
        )
    history = run_dir / layout.HISTORY_NAME
    if history.exists():
        # lazy: pulls pandas; %load_ext stays light
        import pandas as pd

        rows = pd.read_csv(history).to_dict("records")
        for row in rows:
            row["run_id"] = record.run_id
            state.history.append({k: v for k, v in row.items() if v == v})  # NaN: not logged then
    if any(k.startswith("test_") for k in record.metrics):
        # The same report object a one-process run returns, computed on the weights just loaded
        # (training.api.final_test_report, with no idle check: a background run is still 'busy' here).
        record.report = final_test_report(job, bundle)


def _load_full_weights(model: torch.nn.Module, run_dir: Path) -> None:
    """Full fine-tune: copy rank 0's saved weights (one or sharded safetensors files) into ``model``."""
    # lazy: pulls safetensors; %load_ext stays light
    from safetensors.torch import load_file

    files = sorted(run_dir.glob("model*.safetensors"))
    if not files:
        raise CheckpointError(f"{run_dir}: rank 0 saved no model weights; see {run_dir.parent / OUTPUT_NAME}.")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        state.update(load_file(str(path)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("lm_head.weight")]:  # tied heads are not saved
        raise CheckpointError(f"{run_dir}: the saved weights do not fit the session's model "
                            f"({len(missing)} missing, {len(unexpected)} unexpected tensors).")

