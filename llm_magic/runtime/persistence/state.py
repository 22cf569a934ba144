"""Where persistence reads and writes the session's training results.

Training owns the history, final metrics and checkpoints; this module is the one place that
knows where it keeps them, so that save and load stay readable when that changes. Persistence's
own part of the session is a :class:`PersistenceState` (``Session.persistence``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_magic.runtime.training.runs import RunRecord, TrainingState

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.data.sources import DataSource

__all__ = [
    "PersistenceState",
    "RestoredRun",
    "TrainingResults",
    "find_checkpoint",
    "build_training_restore",
    "restore_training_state",
    "training_results",
]

@dataclass
class RestoredRun:
    """The training results of a folder ``%llm_load`` restored (before any training in the session)."""

    path: Path
    history: Any = None
    metrics: dict[str, Any] | None = None
    data_rows: int | None = None
    checkpoint: str | None = None


@dataclass
class PersistenceState:
    """Persistence's part of the session (``Session.persistence``)."""

    #: The last folder written by ``%llm_save`` / ``%llm_export`` (``%llm_upload``'s default).
    last_folder: Path | None = None
    #: The merged model kept for ``%llm_export`` (a ``merge.MergeReport``), or None.
    merged: Any = None
    #: What the last ``%llm_load`` restored, or None.
    restored: RestoredRun | None = None


@dataclass(frozen=True)
class TrainingResults:
    """What a save or an export writes beside the weights, read once from the session's parts."""

    #: The training history (a DataFrame or list of row dicts), or None before any training.
    history: Any = None
    #: The final metrics of the last training run (name -> value), or None.
    metrics: dict[str, Any] | None = None
    #: Rows of training data behind the model, or None when unknown.
    rows: int | None = None
    #: The last trainer checkpoint folder (for ``--resume``), or None.
    checkpoint: Path | None = None
    #: The last fine-tune run's record as plain values (for the manifest), or None.
    run_info: dict[str, Any] | None = None


def training_results(training: "TrainingState", persistence: PersistenceState, data: DataSource | None = None, *,
                     checkpoint: bool = True) -> TrainingResults:
    """Training's results from its part and persistence's own (``restored`` fills what training
    lacks); ``data`` is the session's bound data (its length counts rows when training recorded
    none); ``checkpoint=False`` leaves the checkpoint out."""
    return TrainingResults(
        history=_history(training, persistence),
        metrics=_metrics(training, persistence),
        rows=_rows(training, persistence, data),
        checkpoint=_checkpoint(training, persistence) if checkpoint else None,
        run_info=_run_info(training),
    )


def find_checkpoint(training: "TrainingState", persistence: PersistenceState) -> Path | None:
    """The last trainer checkpoint folder of the session's run (for ``--resume``), or None:
    ``training``'s own, else that of a run restored by ``%llm_load`` (``persistence.restored``)."""
    return _checkpoint(training, persistence)


def _history(training: "TrainingState", persistence: PersistenceState) -> list[dict[str, Any]]:
    history = training.history
    if not history:
        restored = persistence.restored
        history = restored.history if restored is not None else None
    return history


def _metrics(training: "TrainingState", persistence: PersistenceState) -> dict[str, Any] | None:
    metrics = training.final_metrics
    restored = persistence.restored
    if not metrics and restored is not None:
        metrics = restored.metrics
    return dict(metrics) if metrics else None


def _rows(training: "TrainingState", persistence: PersistenceState, data: DataSource | None) -> int | None:
    rows = training.train_rows
    restored = persistence.restored
    if rows is None and restored is not None:
        rows = restored.data_rows
    if isinstance(rows, int):
        return rows
    if data is not None and not isinstance(data, (str, Path)) and hasattr(data, "__len__"):
        return len(data)
    return None


def _checkpoint(training: "TrainingState", persistence: PersistenceState) -> Path | None:
    restored = persistence.restored
    for value in (training.last_checkpoint, restored.checkpoint if restored else None):
        if value and Path(value).is_dir():
            return Path(value)
    return None


#: The fields of training's last run record that a save keeps (manifest ``run``).
RUN_FIELDS = ("run_id", "status", "global_step", "max_steps", "best_step", "best_metric", "train_rows")


def _run_info(training: "TrainingState") -> dict[str, Any] | None:
    for run in reversed(training.runs):
        if getattr(run, "kind", None) == "finetune":
            return {name: getattr(run, name, None) for name in RUN_FIELDS}
    return None


def _clean(value: Any) -> Any:
    # A CSV round trip turns missing values into NaN; training's own rows use None.
    return None if isinstance(value, float) and value != value else value


def build_training_restore(
    restored: RestoredRun, run_info: dict[str, Any] | None, config: dict[str, Any]
) -> tuple[list[dict[str, Any]], Any]:
    """History rows and a run record for training's state, prepared before anything is swapped.

    The record (with the saved status; ``loaded`` when none was saved) carries the saved checkpoint, metrics and row count, so
    ``%llm_runs`` lists the loaded run, ``%llm_train --resume`` continues it and a new save
    keeps its metrics.
    """
    history = restored.history
    rows = [] if history is None else [
        {key: _clean(value) for key, value in row.items()} for row in history.to_dict("records")
    ]
    info = dict(run_info or {})
    if not (info or rows or restored.checkpoint or restored.metrics):
        return rows, None  # nothing was trained: no run to list
    record = RunRecord(
        run_id=str(info.get("run_id") or "loaded"), kind="finetune", config=dict(config),
        status="loaded", checkpoint=restored.checkpoint,
        metrics=dict(restored.metrics or {}),
    )
    # The saved status (e.g. "stopped") keeps training's rules: only a stopped run resumes.
    for name in RUN_FIELDS[1:]:
        if info.get(name) is not None:
            setattr(record, name, info[name])
    record.notes.append(f"Loaded from {restored.path}.")
    if record.train_rows is None:
        record.train_rows = restored.data_rows
    record.finished = record.started
    return rows, record


def restore_training_state(training: TrainingState, persistence: PersistenceState,
                           restored: RestoredRun, rows: list[dict[str, Any]], record: RunRecord | None) -> None:
    """Make a loaded run visible where training looks (cannot fail: plain list edits).

    A run already in ``training`` with the same run id (the run this folder was saved from, or
    an earlier load of it) is replaced with its history rows instead of listed twice, so
    ``%llm_load`` is idempotent.
    """
    persistence.restored = restored
    if record is None:
        return
    state = training
    note = f"Loaded from {restored.path}."

    def same(run: Any) -> bool:
        if run.status == "running" or run.run_id != record.run_id or run.kind != "finetune":
            return False
        return run.run_id != "loaded" or note in run.notes  # "loaded": no id saved, match the folder

    again = [run for run in state.runs if same(run)]
    if again:
        state.runs[:] = [run for run in state.runs if run not in again]
        ids = {run.run_id for run in again}
        state.history[:] = [row for row in state.history if row.get("run_id") not in ids]
    # New checkpoints of a resumed run go to the usual runs folder, never into the saved folder;
    # absolute, so that a later %cd does not lose them.
    record.output_dir = os.path.abspath(os.path.join(state.output_root, record.run_id))
    state.history.extend(rows)
    state.runs.append(record)
