"""Where persistence reads and writes the session's training results.

Training owns the history, final metrics and checkpoints; this module is the one place that
knows where it keeps them, so that save and load stay readable when that changes. Persistence's
own per-session state lives in ``session.state["persistence"]``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from llm_magic.runtime.session import Session

__all__ = [
    "data_rows",
    "find_checkpoint",
    "own_state",
    "build_training_restore",
    "last_run_info",
    "restore_training_state",
    "session_history",
    "session_metrics",
]

OWNER = "persistence"


def own_state(session: "Session") -> dict[str, Any]:
    """Persistence's entry in ``session.state`` (last folders, merged model, restored run)."""
    return session.state.setdefault(OWNER, {})


def _training(session: "Session") -> Any:
    return session.state.get("training")


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def session_history(session: "Session") -> Any:
    """The training history (a DataFrame or list of row dicts), or None before any training."""
    history = getattr(session, "history", None)
    if history is None:
        history = _get(_training(session), "history")
    if history is None:
        history = _get(own_state(session).get("restored"), "history")
    return history


def session_metrics(session: "Session") -> dict[str, Any] | None:
    """The final metrics of the last training run (name -> value), or None."""
    for source in (_training(session), own_state(session).get("restored")):
        for name in ("final_metrics", "metrics"):
            value = _get(source, name)
            if value:
                return dict(value)
    return None


def data_rows(session: "Session") -> int | None:
    """Rows of training data behind the model: what training recorded, else the bound data."""
    for source in (_training(session), own_state(session).get("restored")):
        for name in ("train_rows", "data_rows"):
            value = _get(source, name)
            if isinstance(value, int):
                return value
    data = session.data
    if data is not None and not isinstance(data, (str, Path)) and hasattr(data, "__len__"):
        return len(data)
    return None


def find_checkpoint(session: "Session") -> Path | None:
    """The last trainer checkpoint folder of the session's run (for ``--resume``), or None."""
    for source in (_training(session), own_state(session).get("restored")):
        for name in ("last_checkpoint", "checkpoint"):
            value = _get(source, name)
            if value and Path(value).is_dir():
                return Path(value)
    return None


#: The fields of training's last run record that a save keeps (manifest ``run``).
RUN_FIELDS = ("run_id", "status", "global_step", "max_steps", "best_step", "best_metric", "train_rows")


def last_run_info(session: "Session") -> dict[str, Any] | None:
    """The last fine-tune run's record as plain values (for the manifest), or None."""
    for run in reversed(list(_get(_training(session), "runs") or [])):
        if getattr(run, "kind", None) == "finetune":
            return {name: getattr(run, name, None) for name in RUN_FIELDS}
    return None


def _clean(value: Any) -> Any:
    # A CSV round trip turns missing values into NaN; training's own rows use None.
    return None if isinstance(value, float) and value != value else value


def build_training_restore(
    restored: dict[str, Any], run_info: dict[str, Any] | None, config: dict[str, Any]
) -> tuple[list[dict[str, Any]], Any]:
    """History rows and a run record for training's state, prepared before anything is swapped.

    The record (with the saved status; ``loaded`` when none was saved) carries the saved checkpoint, metrics and row count, so
    ``%llm_runs`` lists the loaded run, ``%llm_train --resume`` continues it and a new save
    keeps its metrics. Returns ``([], None)`` when training is not installed.
    """
    try:
        from llm_magic.runtime.training.runs import RunRecord
    except ImportError:  # pragma: no cover - training is part of llm_magic; kept for partial installs
        return [], None
    history = restored.get("history")
    rows = [] if history is None else [
        {key: _clean(value) for key, value in row.items()} for row in history.to_dict("records")
    ]
    info = dict(run_info or {})
    if not (info or rows or restored.get("checkpoint") or restored.get("metrics")):
        return rows, None  # nothing was trained: no run to list
    record = RunRecord(
        run_id=str(info.get("run_id") or "loaded"), kind="finetune", config=dict(config),
        status="loaded", checkpoint=restored.get("checkpoint"),
        metrics=dict(restored.get("metrics") or {}),
    )
    # The saved status (e.g. "stopped") keeps training's rules: only a stopped run resumes.
    for name in RUN_FIELDS[1:]:
        if info.get(name) is not None:
            setattr(record, name, info[name])
    record.notes.append(f"Loaded from {restored.get('path')}.")
    if record.train_rows is None:
        record.train_rows = restored.get("data_rows")
    record.finished = record.started
    return rows, record


def restore_training_state(session: "Session", restored: dict[str, Any], rows: list[dict[str, Any]],
                           record: Any) -> None:
    """Make a loaded run visible where training looks (cannot fail: appends only)."""
    own_state(session)["restored"] = restored
    if record is None:
        return
    import os

    from llm_magic.runtime.training.runs import training_state

    state = training_state(session)
    # New checkpoints of a resumed run go to the usual runs folder, never into the saved folder.
    record.output_dir = os.path.join(state.output_root, record.run_id)
    state.history.extend(rows)
    state.runs.append(record)
