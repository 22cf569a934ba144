"""One training job, whichever executor runs it: in this kernel or launched on several processes.

:func:`plan_job` checks everything a run needs before anything loads (an idle session, a config
that trains, trackers that exist, the point to resume from, the data and, for a preference run,
its columns and TRL) and returns a :class:`FinetuneJob`; :func:`open_record` then makes the run
record (a new one, or the stopped run's own when resuming) with an absolute output folder. The
kernel executor (``training.api.train``) and the multi-process one
(``distributed.launch.train_distributed``) both start from these two, so their checks, their
errors and their run records are the same.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from llm_magic.errors import CheckpointError, DataError, LlmMagicError
from llm_magic.runtime.config.schema.trainer import TRAINING_TRAINERS
from llm_magic.runtime.training.runs import RunRecord, TrainingState
from llm_magic.runtime.training.settings import TrainerSettings, settings_from_config

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Iterable

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.data.sources import DataSource
    from llm_magic.runtime.session import Session

__all__ = ["FinetuneJob", "open_record", "plan_job", "resolve_data", "resume_point"]


@dataclass
class FinetuneJob:
    """What a training run is asked to do, checked (see :func:`plan_job`)."""

    config: LLMConfig
    settings: TrainerSettings
    data: DataSource
    #: The stopped run this job continues (its record is reused), or None for a new run.
    previous: RunRecord | None
    #: The ``checkpoint-N`` folder to resume from, or None.
    resume_from: str | None
    trackers: tuple[str, ...]


def plan_job(session: Session, data: DataSource | None, *, resume: bool | str,
             report_to: str | Iterable[str] | None) -> FinetuneJob:
    """The checked job for ``session``'s current config on ``data`` (default: the bound data).

    Raises the user's error (one line naming what to fix) before any model loads.
    """
    from llm_magic.runtime.training.tracking import parse_report_to

    session.check_idle("start training")
    config = session.require_config()
    settings = settings_from_config(config.trainer)
    trackers = tuple(parse_report_to(report_to))  # a missing tracker changes nothing
    if settings.type not in TRAINING_TRAINERS:
        raise LlmMagicError(
            f"trainer.type: {settings.type!r} trains nothing. Use finetune (supervised fine-tuning) or dpo, kto, "
            "orpo (preference tuning).")
    from llm_magic.runtime.training.runs import training_state

    previous, resume_from = resume_point(session, training_state(session), resume) if resume else (None, None)
    data = resolve_data(session, data)
    if settings.preference is not None:
        _check_preference_data(settings.preference.kind, config, data)
    return FinetuneJob(config, settings, data, previous, resume_from, trackers)


def resolve_data(session: Session, data: DataSource | None) -> DataSource:
    """``data``, else the session's bound data; a clear error when there is neither."""
    data = data if data is not None else session.data
    if data is None:
        raise DataError(
            "No data: pass it with --data <DataFrame or file> (or session.train(data=df)). "
            "The data is remembered for later %llm_train / %llm_eval calls."
        )
    return data


def _check_preference_data(kind: str, config: LLMConfig, data: DataSource) -> None:
    """Before any model loads: TRL is installed and the preference columns are there."""
    from llm_magic.runtime.data import load_data
    from llm_magic.runtime.data.preference import check_preference_columns
    from llm_magic.runtime.training.preference import require_trl

    require_trl(kind)
    check_preference_columns(config.trainer, load_data(data))


def resume_point(session: Session, state: TrainingState,
                 resume: bool | str | os.PathLike[str] = True) -> tuple[RunRecord | None, str]:
    """The stopped run to continue and its checkpoint, or a clear error when there is none.

    ``resume`` is True (the last stopped run of this session, else a checkpoint restored by
    ``%llm_load``) or the path of a ``checkpoint-N`` folder (no run record then).
    """
    if isinstance(resume, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(resume))
        if not os.path.isfile(os.path.join(path, "trainer_state.json")):
            raise CheckpointError(
                f"resume={os.fspath(resume)!r}: not a trainer checkpoint (a checkpoint-N folder with "
                "trainer_state.json). Pass resume=True to continue this session's last stopped run."
            )
        return None, path
    for run in reversed(state.runs):
        if run.kind != "finetune":
            continue
        # A failed run keeps a checkpoint only when it was a stopped run whose resume failed (a
        # failed launch, bad data): its checkpoint is still the place to continue from.
        if run.status in ("stopped", "failed") and run.checkpoint and os.path.isdir(run.checkpoint):
            return run, run.checkpoint
        if run.status in ("finished", "early_stopped"):
            raise CheckpointError(
                f"Nothing to resume: the last run ({run.run_id}) {run.status.replace('_', ' ')}. "
                "Start a new run with %llm_train (it continues from the current weights)."
            )
    from llm_magic.runtime.persistence.state import find_checkpoint

    restored = find_checkpoint(state, session.persistence)
    if restored is not None:
        return None, str(restored)
    raise CheckpointError(
        "Nothing to resume: no run in this session left a checkpoint. Start a run with %llm_train "
        "(a stopped or interrupted run writes one), or %llm_load a saved run folder first."
    )


def open_record(state: TrainingState, job: FinetuneJob, config: dict[str, Any],
                notes: Sequence[str] = ()) -> RunRecord:
    """The job's run record, registered in ``state``: the stopped run's own when resuming.

    ``config`` is the record's copy of the config; ``notes`` are added once (a resumed run keeps
    its notes).
    """
    if job.previous is not None:
        record = job.previous
        record.status, record.error, record.finished = "running", None, None
    else:
        record = RunRecord(run_id=state.new_run_id(), kind="finetune", config=config)
        # Absolute: a later %cd must not lose the run's checkpoints (--resume, %llm_save).
        record.output_dir = os.path.abspath(os.path.join(state.output_root, record.run_id))
        state.runs.append(record)
    if job.resume_from and record.output_dir is None:
        record.output_dir = os.path.dirname(job.resume_from)
    for note in notes:
        if note not in record.notes:
            record.notes.append(note)
    return record
