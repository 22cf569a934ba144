"""One training job, whichever executor runs it: in this kernel or launched on several processes.

:func:`plan_job` checks everything a run needs before anything loads (an idle session, a config
that trains, trackers that exist, a valid seed, the point to resume from, the data and, for a
preference run, its columns and TRL) and returns a frozen :class:`FinetuneJob`; :func:`open_record`
then makes the run record (a new one, or the stopped run's own when resuming) and returns the job
bound to it (its run id and absolute output folder). The kernel executor
(``training.api.train``: the HF ``Trainer`` in this process) and the multi-process one
(``distributed.launch.train_distributed``: ``accelerate`` / ``torchrun`` workers) both start from
these two, so their checks, their errors and their run records are the same; they also share
``training.api``'s ``start_run`` / ``dispatch`` / ``announce_end`` and its test evaluation
(``final_test_report``).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from llm_magic.errors import CheckpointError, DataError, LlmMagicError
from llm_magic.runtime.config.schema.trainer import TRAINING_TRAINERS
from llm_magic.runtime.data.prepare import RunData, load_run_data
from llm_magic.runtime.persistence.state import find_checkpoint
from llm_magic.runtime.training.runs import RunRecord, TrainingState, training_state
from llm_magic.runtime.training.settings import TrainerSettings, settings_from_config
from llm_magic.runtime.training.tracking import parse_report_to

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Iterable

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.data.sources import DataSource
    from llm_magic.runtime.session import Session
    from llm_magic.runtime.training.data import TrainingData

__all__ = ["FinetuneJob", "config_dict", "open_record", "plan_job", "resolve_data", "resume_point"]


@dataclass(frozen=True)
class FinetuneJob:
    """What a fine-tuning run is asked to do, checked (see :func:`plan_job`); both executors run it.

    Built once by :func:`plan_job`; :func:`open_record` binds it to its run record (``run_id``,
    ``output_dir``) and the kernel executor adds its tokenized splits (``prepared``), each as a new
    frozen copy (:func:`dataclasses.replace`).
    """

    #: The validated config (``LLMConfig``); None only for a job built from loose pieces (the runner's tests).
    config: LLMConfig | None
    settings: TrainerSettings
    #: The user's data (a DataFrame, a file, ...); a multi-process job's processes read it from its folder.
    data: DataSource
    #: The seed of the run: ``--seed``, else the config's ``random_seed`` (42 when unset).
    seed: int = 42
    #: The stopped run this job continues (its record is reused), or None for a new run.
    previous: RunRecord | None = None
    #: The ``checkpoint-N`` folder to resume from (absolute), or None.
    resume_from: str | None = None
    #: Experiment trackers to report to (``--report-to``).
    trackers: tuple[str, ...] = ()
    #: ``--sample-every``: log the model's answers to a few validation prompts every N steps.
    sample_every: int | None = None
    #: ``adapter.loraplus_lr_ratio`` (LoRA+: B matrices learn this many times faster), or None.
    loraplus_lr_ratio: float | None = None
    #: llm_magic's cache folder (retrieval indices; ``Settings.cache_dir``; None: ``$LLM_MAGIC_CACHE``).
    cache_dir: str | None = None
    #: The run id and the run's output folder (checkpoints), set by :func:`open_record`.
    run_id: str | None = None
    output_dir: str | None = None
    #: The tokenized splits, when this process trains (the kernel executor prepares them).
    prepared: TrainingData | None = None
    #: ``data`` as :func:`plan_job` loaded and checked it (a preference run's columns), for the
    #: preparation to reuse (:attr:`source`) instead of reading the data again; None: not loaded
    #: yet. The kernel executor drops it once the splits are prepared.
    run_data: RunData | None = field(default=None, repr=False)

    @property
    def source(self) -> DataSource | RunData:
        """What the preparation reads: :attr:`run_data` when :func:`plan_job` loaded it, else ``data``."""
        return self.run_data if self.run_data is not None else self.data

    def replace(self, **changes: Any) -> "FinetuneJob":
        """A copy with ``changes`` (the job itself never changes)."""
        return dataclasses.replace(self, **changes)


def plan_job(session: Session, data: DataSource | None, *, resume: bool | str,
             report_to: str | Iterable[str] | None, seed: int | None = None,
             sample_every: int | None = None) -> FinetuneJob:
    """The checked job for ``session``'s current config on ``data`` (default: the bound data).

    ``seed`` (None: the config's ``random_seed``) and ``sample_every`` as for ``Session.train``.
    Raises the user's error (one line naming what to fix) before any model loads.
    """
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.models.seeding import config_seed

    session.check_idle("start training")
    config = session.require_config()
    settings = settings_from_config(config.trainer)
    trackers = tuple(parse_report_to(report_to))  # a missing tracker changes nothing
    if settings.type not in TRAINING_TRAINERS:
        raise LlmMagicError(
            f"trainer.type: {settings.type!r} trains nothing. Use finetune (supervised fine-tuning) or dpo, kto, "
            "orpo (preference tuning).")
    seed = config_seed(config) if seed is None else int(seed)
    if seed < 0:
        raise LlmMagicError(f"--seed {seed}: a seed is a whole number >= 0, e.g. --seed 42.")

    previous, resume_from = resume_point(session, training_state(session), resume) if resume else (None, None)
    data = resolve_data(session, data)
    run_data = (_check_preference_data(settings.preference.kind, config, data)
                if settings.preference is not None else None)
    adapter = config.adapter
    return FinetuneJob(
        config, settings, data, seed=seed, previous=previous,
        # Absolute: a multi-process job's train.py runs in another folder than the notebook.
        resume_from=os.path.abspath(resume_from) if resume_from else None,
        trackers=trackers, sample_every=sample_every,
        loraplus_lr_ratio=getattr(adapter, "loraplus_lr_ratio", None) if adapter is not None else None,
        cache_dir=session.settings.cache_dir, run_data=run_data,
    )


def config_dict(config: LLMConfig | None) -> dict[str, Any]:
    """``config`` as a plain dict (the run record's copy); empty for a job without a config."""
    return config.to_dict() if config is not None else {}


def resolve_data(session: Session, data: DataSource | None) -> DataSource:
    """``data``, else the session's bound data; a clear error when there is neither."""
    data = data if data is not None else session.data
    if data is None:
        raise DataError(
            "No data: pass it with --data <DataFrame or file> (or session.train(data=df)). "
            "The data is remembered for later %llm_train / %llm_eval calls."
        )
    return data


def _check_preference_data(kind: str, config: LLMConfig, data: DataSource) -> RunData:
    """Before any model loads: TRL is installed and the preference columns are there.

    Returns the data as it was loaded for the check, so that the preparation reads it only once.
    """
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.training.preference import require_trl

    require_trl(kind)
    return load_run_data(config, data)


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

    restored = find_checkpoint(state, session.persistence)
    if restored is not None:
        return None, str(restored)
    raise CheckpointError(
        "Nothing to resume: no run in this session left a checkpoint. Start a run with %llm_train "
        "(a stopped or interrupted run writes one), or %llm_load a saved run folder first."
    )


def open_record(state: TrainingState, job: FinetuneJob, notes: Sequence[str] = ()) -> tuple[FinetuneJob, RunRecord]:
    """The job bound to its run record, and the record, registered in ``state``.

    Resuming reuses the stopped run's own record; a new run gets a new id and an absolute output
    folder. The record keeps a copy of the config; ``notes`` are added once (a resumed run keeps
    its notes).
    """
    if job.previous is not None:
        record = job.previous
        record.status, record.error, record.finished = "running", None, None
    else:
        record = RunRecord(run_id=state.new_run_id(), kind="finetune", config=config_dict(job.config))
        # Absolute: a later %cd must not lose the run's checkpoints (--resume, %llm_save).
        record.output_dir = os.path.abspath(os.path.join(state.output_root, record.run_id))
        state.runs.append(record)
    if job.resume_from and record.output_dir is None:
        record.output_dir = os.path.dirname(job.resume_from)
    for note in notes:
        if note not in record.notes:
            record.notes.append(note)
    return job.replace(run_id=record.run_id, output_dir=record.output_dir), record
