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


def restore_training_state(session: "Session", restored: dict[str, Any]) -> None:
    """Make a loaded run's history, metrics and checkpoint visible where training looks."""
    own_state(session)["restored"] = restored
