"""What a training process of a multi-process job needs beyond the ordinary Python API.

The exported ``train.py`` (see :mod:`.script`) is plain llm_magic API — ``set_config``,
``train``, ``save`` — run once per process by ``torchrun`` or ``accelerate launch``; the HF
Trainer inside ``Session.train`` sees the launcher's environment (``RANK``, ``WORLD_SIZE``, ...)
and trains data-parallel by itself. This module adds the few things that differ per process:
which rank we are, the start weights shipped from the notebook, one run folder for the shared
checkpoints, a stop file that ends every process after the same step with a checkpoint, a
JSON-lines metric log that the notebook tails for its live plot, gathering sharded weights
before rank 0 saves, and the result file the notebook reads back.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from llm_magic.errors import CheckpointError
from llm_magic.runtime.training.loggers import MetricLogger, TextLogger
from llm_magic.runtime.training.runs import RunRecord, training_state

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch

    from llm_magic.runtime.session import Session

__all__ = [
    "JsonlLogger", "RESULT_NAME", "RUN_ID", "START_WEIGHTS_NAME", "finish", "gathered", "load_trainable_weights",
    "prepare_session", "rank", "rank0_loggers", "save_trainable_weights", "setup", "watch_stop_file",
    "world_size", "write_result",
]

#: The notebook's current trainable weights, shipped so every process starts where it stands.
START_WEIGHTS_NAME = "start_weights.safetensors"
#: Rank 0's summary of the run (status, steps, metrics, notes), read back by the notebook.
RESULT_NAME = "result.json"
#: The run id (and checkpoint sub-folder) every process of a job uses.
RUN_ID = "train"
# How often each process looks for the stop file (seconds).
STOP_POLL_SECONDS = 0.2


def rank() -> int:
    """This process's global rank (0 when not launched by torchrun / accelerate)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes the job has (1 when not launched by torchrun / accelerate)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup() -> int:
    """Pin this process to its own GPU (before the model loads there); return the rank.

    The model loader puts the model on the *current* CUDA device, so each process must select
    ``LOCAL_RANK`` first or all of them would share GPU 0.
    """
    # lazy: pulls torch; %load_ext stays light
    import torch

    if torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    return rank()


def prepare_session(session: Session, checkpoints: str | os.PathLike, run_name: str | None = None,
                    tracking_root: str | None = None) -> None:
    """Make every process's session write its trainer checkpoints to ``checkpoints/train``.

    Each process has its own session; with per-session time-stamped run ids they could pick
    different folders, while the HF Trainer expects one (rank 0 writes the weights and optimizer,
    every rank its RNG state; FSDP and ZeRO-3 every rank its shard). ``run_name`` and
    ``tracking_root`` (the notebook's run id and runs folder) are what experiment trackers see.
    """
    state = training_state(session)
    state.output_root = str(Path(checkpoints).resolve())
    state.fixed_run_id = RUN_ID
    state.tracking_name, state.tracking_root = run_name, tracking_root


def watch_stop_file(path: str | os.PathLike, session: Session) -> threading.Thread:
    """Ask ``session``'s training to stop while ``path`` exists (a daemon thread polls for it).

    The trainer's stop callback makes all processes agree on the step, so they stop together
    and write one checkpoint. The event is set again on every poll: a run that starts after the
    file appeared (it clears the event at its start) still sees the request.
    """
    event, path = training_state(session).stop_event, Path(path)

    def poll() -> None:
        while True:
            if path.exists():
                event.set()
            time.sleep(STOP_POLL_SECONDS)

    thread = threading.Thread(target=poll, name="llm_magic-stop-file", daemon=True)
    thread.start()
    return thread


class JsonlLogger:
    """A metric logger writing one JSON object per line, flushed at once (the notebook tails it).

    Lines are ``{"log_dict": {...}, "step": n}`` for numbers and ``{"event": name, "value": ...,
    "step": n}`` for an event (``name`` one of :data:`~llm_magic.runtime.training.loggers.EVENTS`).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def _write(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, default=_plain) + "\n")
        self._file.flush()

    def _event(self, name: str, value: Any, step: int) -> None:
        self._write({"event": name, "value": value, "step": int(step)})

    def log(self, name: str, value: float, step: int) -> None:
        """Write one number."""
        self.log_dict({name: value}, step)

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Write several numbers logged together."""
        self._write({"log_dict": {k: _plain(v) for k, v in values.items()}, "step": int(step)})

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """Write the run's total steps."""
        self._event("max_steps", max_steps, step)

    def on_best_step(self, best_step: int, step: int) -> None:
        """Write the best checkpoint's step."""
        self._event("best_step", best_step, step)

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """Write a round of sample answers."""
        self._event("samples", list(samples), step)

    def on_status(self, status: str, step: int) -> None:
        """Write the run's status."""
        self._event("status", status, step)

    def close(self) -> None:
        """Close the file (the notebook stops tailing when the processes exit)."""
        self._file.close()


def _plain(value: Any) -> Any:
    """numpy / torch scalars as plain numbers; anything else as text."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return value.item() if hasattr(value, "item") else str(value)


def rank0_loggers(log_path: str | None) -> list[MetricLogger]:
    """The metric loggers of this process: rank 0 logs (JSON lines, or a text line), others don't."""
    if rank() != 0:
        return []
    if log_path:
        return [JsonlLogger(log_path)]

    return [TextLogger()]


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def save_trainable_weights(model: torch.nn.Module, path: str | os.PathLike) -> int:
    """Write ``model``'s trainable weights (an adapter's, or all for a full fine-tune); return the count."""
    # lazy: pulls safetensors; %load_ext stays light
    from safetensors.torch import save_file

    tensors = {n: p.detach().to("cpu").contiguous() for n, p in _trainable(model).items()}
    save_file(tensors, str(path))
    return len(tensors)


def load_trainable_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Copy weights written by :func:`save_trainable_weights` into ``model``; names and shapes must match."""
    # lazy: pulls torch; %load_ext stays light
    import torch
    from safetensors.torch import load_file

    saved = load_file(str(path))
    params = _trainable(model)
    missing, extra = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
    wrong = sorted(n for n in set(saved) & set(params) if tuple(saved[n].shape) != tuple(params[n].shape))
    if missing or extra or wrong:
        example = (missing or extra or wrong)[0]
        raise CheckpointError(
            f"{path}: the weights do not fit this model ({len(missing)} missing, {len(extra)} unexpected, "
            f"{len(wrong)} of another shape; e.g. {example}). It was written for another config."
        )
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(saved[name].to(device=param.device, dtype=param.dtype))


@contextlib.contextmanager
def gathered(model: torch.nn.Module) -> Iterator[None]:
    """Within this block rank 0 holds ``model``'s whole weights (call it on every rank: it gathers).

    DDP and ZeRO-1/2 keep whole weights on each process already. ZeRO-3 partitions them: DeepSpeed's
    ``GatheredParameters`` gathers them for the block. FSDP2 turns them into sharded ``DTensor``s:
    torch's public ``get_model_state_dict`` (``full_state_dict``, ``cpu_offload``) all-gathers them
    into rank 0's memory, and rank 0's modules hold those whole tensors for the block
    (``register_parameter``, the public way to replace a parameter); the other ranks keep their shards.
    """
    params = list(model.parameters())
    if any(hasattr(p, "ds_id") for p in params):
        # lazy: DeepSpeed is optional (ZeRO-3 runs only)
        import deepspeed

        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            yield
        return
    if not any(hasattr(p, "full_tensor") for p in params):
        yield
        return
    # lazy: pulls torch; %load_ext stays light
    import torch
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    # Every rank takes part in the all-gather; with cpu_offload only rank 0 receives the tensors.
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    swapped: list[tuple[torch.nn.Module, str, torch.nn.Parameter]] = []
    whole: dict[int, torch.nn.Parameter] = {}  # a tied weight (one parameter in two modules) stays one parameter
    for prefix, module in model.named_modules():
        for name, param in list(module.named_parameters(prefix=prefix, recurse=False, remove_duplicate=False)):
            local = name.rsplit(".", 1)[-1]
            if not hasattr(param, "full_tensor") or name not in full:
                continue
            if id(param) not in whole:
                whole[id(param)] = torch.nn.Parameter(full[name], requires_grad=param.requires_grad)
            module.register_parameter(local, whole[id(param)])
            swapped.append((module, local, param))
    try:
        yield
    finally:
        for module, local, param in swapped:
            module.register_parameter(local, param)


def write_result(folder: str | os.PathLike, record: RunRecord) -> Path:
    """Write rank 0's run summary (``result.json``) into ``folder``."""
    path = Path(folder) / RESULT_NAME
    fields = ("run_id", "status", "global_step", "max_steps", "best_step", "best_metric", "train_rows",
              "metrics", "notes", "error", "tracking")
    result = {k: getattr(record, k) for k in fields}
    result["checkpoint"] = os.path.abspath(record.checkpoint) if record.checkpoint else None
    path.write_text(json.dumps(result, default=_plain, indent=2), encoding="utf-8")
    return path


def finish(stop_file: str | os.PathLike | None = None) -> None:
    """Wait for every process (rank 0 may still be saving), then leave the process group.

    Rank 0 then removes ``stop_file`` (if a stop was asked), so the next launch of the same
    folder does not stop at its first step.
    """
    # lazy: pulls torch; %load_ext stays light
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    if stop_file and rank() == 0:
        Path(stop_file).unlink(missing_ok=True)
