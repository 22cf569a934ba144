"""Per-session training state: the runs made so far, the step history, the job in progress.

Is the session's ``training`` part, a :class:`TrainingState`. Persistence reads
``history``, ``final_metrics``, ``train_rows`` and ``last_checkpoint`` from it (see
``runtime.persistence.state``). :class:`RunsTable` is what ``%llm_runs`` shows.
"""
from __future__ import annotations

import contextlib
import html
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence, TypeVar

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.secrets import redact
from llm_magic.runtime.settings import DEFAULT_OUTPUT_ROOT
from llm_magic.runtime.training.loggers import MetricLogger, format_duration

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd

    from llm_magic.runtime.evaluation.report import EvalComparison, EvalReport
    from llm_magic.runtime.session import Session

__all__ = ["OWNER", "RunRecord", "RunsTable", "TrainingState", "recorded", "training_state", "unique_runs"]

OWNER = "training"

#: Columns of ``Session.history``.
HISTORY_COLUMNS = ["run_id", "step", "epoch", "loss", "eval_loss", "learning_rate", "tokens_per_second"]


@dataclass
class RunRecord:
    """One ``%llm_train`` / ``%llm_eval`` call: its config, progress, outcome and metrics."""

    run_id: str
    kind: str  # "finetune" or "evaluate"
    config: dict[str, Any]
    output_dir: str | None = None
    status: str = "running"  # running, finished, early_stopped, stopped, failed, evaluated
    started: float = field(default_factory=time.time)
    finished: float | None = None
    global_step: int = 0
    max_steps: int | None = None
    best_step: int | None = None
    best_metric: float | None = None
    checkpoint: str | None = None
    train_rows: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    #: The test (or ``%llm_eval``) report; a comparison with the base model for ``--compare``.
    report: EvalReport | EvalComparison | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    #: Experiment trackers this run reported to: name -> where (log folder, MLflow run id and URI).
    tracking: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall time so far (or in total, once finished)."""
        return (self.finished or time.time()) - self.started


@contextlib.contextmanager
def recorded(record: RunRecord, loggers: Sequence[MetricLogger]) -> Iterator[RunRecord]:
    """Run a training job's body so that ``record`` always ends up finished.

    A user-level failure (:class:`~llm_magic.errors.LlmMagicError`) becomes ``status: failed``
    with its message; any other exception is a bug: recorded the same way for ``%llm_status``,
    then re-raised for the traceback. The loggers are closed in every case.
    """
    try:
        yield record
    except LlmMagicError as exc:
        record.status, record.error = "failed", redact(str(exc))
    except Exception as exc:
        record.status, record.error = "failed", redact(f"{type(exc).__name__}: {exc}")
        raise
    except KeyboardInterrupt:
        # Interrupted outside the stop-after-this-step path: the record must still tell the
        # truth, pointing at the newest complete checkpoint so that --resume continues.
        checkpoint = _newest_checkpoint(record.output_dir)
        if checkpoint:
            record.status, record.checkpoint = "stopped", checkpoint
            record.notes.append(f"Interrupted; continue from {checkpoint} with %llm_train --resume.")
        else:
            record.status, record.error = "failed", "Interrupted before the first checkpoint."
        raise
    finally:
        record.finished = time.time()
        for logger in loggers:
            logger.close()


def _newest_checkpoint(output_dir: str | None) -> str | None:
    """The highest ``checkpoint-N`` folder in ``output_dir`` holding a complete trainer state."""
    import os

    if not output_dir or not os.path.isdir(output_dir):
        return None
    steps = []
    for name in os.listdir(output_dir):
        path = os.path.join(output_dir, name)
        if name.startswith("checkpoint-") and name[11:].isdigit() and \
                os.path.isfile(os.path.join(path, "trainer_state.json")):
            steps.append((int(name[11:]), path))
    return max(steps)[1] if steps else None


class TrainingState:
    """What training keeps in a session (``Session.training``)."""

    def __init__(self, output_root: str = DEFAULT_OUTPUT_ROOT) -> None:
        self.runs: list[RunRecord] = []
        #: One dict per logged step, all runs (see :data:`HISTORY_COLUMNS`).
        self.history: list[dict[str, Any]] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.current: RunRecord | None = None
        #: The live loggers of the run in progress (``%llm_status`` reads the last values).
        self.loggers: list[MetricLogger] = []
        #: Where run folders go (``<output_root>/<run-id>/checkpoint-N``; ``Settings.output_root``).
        self.output_root = output_root
        #: When set, every run gets this id: the processes of a multi-process job each have their
        #: own session, and must agree on one run folder for their shared checkpoints.
        self.fixed_run_id: str | None = None
        #: Set in a multi-process job: the notebook's run id and runs folder, for the trackers.
        self.tracking_name: str | None = None
        self.tracking_root: str | None = None

    @property
    def last_run(self) -> RunRecord | None:
        """The most recent run (in progress or not)."""
        return self.runs[-1] if self.runs else None

    @property
    def final_metrics(self) -> dict[str, Any] | None:
        """The metrics of the last run that produced any (read by persistence)."""
        for run in reversed(self.runs):
            if run.metrics:
                return dict(run.metrics)
        return None

    @property
    def train_rows(self) -> int | None:
        """Training rows behind the current weights (read by persistence)."""
        for run in reversed(self.runs):
            if run.kind == "finetune" and run.train_rows is not None:
                return run.train_rows
        return None

    @property
    def last_checkpoint(self) -> str | None:
        """The newest trainer checkpoint of the last fine-tune run (read by persistence)."""
        for run in reversed(self.runs):
            if run.kind == "finetune":
                return run.checkpoint
        return None

    @property
    def running(self) -> bool:
        """Whether a background run is in progress."""
        return self.thread is not None and self.thread.is_alive()

    def new_run_id(self) -> str:
        """A run id that sorts by time and is unique in this session (``20260127-101500-1``)."""
        if self.fixed_run_id:
            return self.fixed_run_id
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{len(self.runs) + 1}"

    def history_frame(self) -> pd.DataFrame:
        """The history as a DataFrame with :data:`HISTORY_COLUMNS`."""
        # lazy: pulls pandas; %load_ext stays light
        import pandas as pd

        return pd.DataFrame(list(self.history), columns=HISTORY_COLUMNS)


def training_state(session: Session) -> TrainingState:
    """The session's :class:`TrainingState` (``Session.training``)."""
    return session.training


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


#: Metrics tried in this order for a run's "key metric" column (the first the run has).
KEY_METRICS = ("test_accuracy", "test_exact_match", "test_rougeL", "test_loss")
#: Characters of a base model id shown in the compact table (the end: the model's own name).
_BASE_MODEL_CHARS = 20


def unique_runs(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """One record per run id, the newest, in the order the ids first appeared.

    A run saved and loaded back in the same session has two records (the original and the
    loaded one); it is one run.
    """
    latest: dict[str, RunRecord] = {}
    for run in runs:
        latest[run.run_id] = run  # a dict keeps a key where it was first inserted
    return list(latest.values())


class RunsTable:
    """The runs of a session, one row per run.

    The default view is compact (run, status, steps, duration ("time"), best validation loss
    ("best eval"), the key test metric, adapter, base model: it fits 110 terminal columns); ``all_columns=True`` (``%llm_runs --all``)
    shows every config key that differs between the runs and every final metric. :attr:`frame`
    is always the full table, :attr:`compact` the short one.
    """

    def __init__(self, runs: list[RunRecord], all_columns: bool = False) -> None:
        self.runs = unique_runs(runs)
        self.all_columns = all_columns
        self.frame = self._build()
        self.compact = self._build_compact()

    def _build(self) -> pd.DataFrame:
        # lazy: pulls pandas; %load_ext stays light
        import pandas as pd

        flat = [_flatten(run.config) for run in self.runs]
        keys = sorted({k for f in flat for k in f})
        differing = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
        rows = []
        for run, cfg in zip(self.runs, flat):
            row: dict[str, Any] = {"run": run.run_id, "kind": run.kind, "status": run.status,
                                   "steps": run.global_step, "best step": run.best_step,
                                   "seconds": round(run.seconds, 1)}
            if any(r.tracking for r in self.runs):
                row["reported to"] = ", ".join(run.tracking)
            row.update({k: cfg.get(k) for k in differing})
            row.update({k: _round(v) for k, v in run.metrics.items() if isinstance(v, (int, float))})
            rows.append(row)
        return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()

    def _build_compact(self) -> pd.DataFrame:
        # lazy: pulls pandas; %load_ext stays light
        import pandas as pd

        rows = []
        for run in self.runs:
            steps = f"{run.global_step}/{run.max_steps}" if run.max_steps else str(run.global_step)
            best = run.metrics.get("best_validation_loss")
            key = next((k for k in KEY_METRICS if isinstance(run.metrics.get(k), (int, float))), None)
            adapter = (run.config.get("adapter") or {}).get("type") if isinstance(run.config.get("adapter"), dict) \
                else None
            base = str(run.config.get("base_model") or "")
            if len(base) > _BASE_MODEL_CHARS:
                base = "…" + base[-(_BASE_MODEL_CHARS - 1):]
            rows.append({
                "run": run.run_id, "status": run.status,
                "steps": steps if run.kind == "finetune" else "-",
                "time": format_duration(run.seconds),
                "best eval": f"{best:.4f}" if isinstance(best, (int, float)) else "-",
                "key metric": f"{key[len('test_'):]} {run.metrics[key]:.3f}" if key else "-",
                "adapter": adapter or "none", "base model": base,
            })
        return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()

    def __len__(self) -> int:
        return len(self.runs)

    def _shown(self) -> pd.DataFrame:
        return self.frame if self.all_columns else self.compact

    def __repr__(self) -> str:
        if not self.runs:
            return "No runs yet in this session. Start one with %llm_train --data <df>."
        text = self._shown().to_string()
        if not self.all_columns:
            text += "\n(%llm_runs --all: every differing config key and every metric)"
        return text

    def _repr_html_(self) -> str:
        if not self.runs:
            return f"<p>{html.escape(repr(self))}</p>"
        table = self._shown().to_html(na_rep="", float_format=lambda v: f"{v:.4g}")
        if self.all_columns:
            # Many columns: scroll sideways inside the output instead of overflowing the page.
            return f"<div style='overflow-x:auto;max-width:100%'>{table}</div>"
        return table + "<div style='color:#888;font-size:smaller'><code>%llm_runs --all</code>: every differing config key and every metric</div>"


_Cell = TypeVar("_Cell")


def _round(value: _Cell) -> _Cell:
    """A float cell to 4 decimals (a float still); any other cell as it is."""
    return round(value, 4) if isinstance(value, float) else value
