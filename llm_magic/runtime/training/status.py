"""``%llm_status``: where the current (or last) run is, as text and as a small HTML table."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llm_magic.runtime.training.loggers import format_duration

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.training.runs import TrainingState

__all__ = ["TrainingStatus"]


@dataclass
class TrainingStatus:
    """A snapshot of a run: id, state, progress, latest losses, best step, timing, problems."""

    run_id: str | None = None
    status: str = "idle"
    step: int = 0
    max_steps: int | None = None
    loss: float | None = None
    eval_loss: float | None = None
    best_step: int | None = None
    elapsed: float = 0.0
    eta: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, state: TrainingState) -> "TrainingStatus":
        """The status of ``state``'s current run, else its last one (a ``TrainingState``)."""
        run = state.current or state.last_run
        if run is None:
            return cls()
        snap = cls(run_id=run.run_id, status=run.status, step=run.global_step, max_steps=run.max_steps,
                   best_step=run.best_step, elapsed=run.seconds, error=run.error, notes=list(run.notes))
        rows = [r for r in state.history if r["run_id"] == run.run_id]
        if rows:
            snap.step = max(snap.step, max(r["step"] for r in rows))
            losses = [r["loss"] for r in rows if r.get("loss") is not None]
            evals = [r["eval_loss"] for r in rows if r.get("eval_loss") is not None]
            snap.loss = losses[-1] if losses else None
            snap.eval_loss = evals[-1] if evals else None
        if run.status == "running" and snap.max_steps and snap.step:
            first = min((r["step"] for r in rows), default=1) - 1
            done = snap.step - first
            snap.eta = snap.elapsed / done * (snap.max_steps - snap.step) if done > 0 else None
        return snap

    def lines(self) -> list[str]:
        """The status as ``label: value`` lines."""
        if self.run_id is None:
            return ["No training run in this session yet. Start one with %llm_train --data <df>."]
        progress = f"{self.step}/{self.max_steps}" if self.max_steps else str(self.step)
        out = [f"run: {self.run_id}", f"status: {self.status}", f"step: {progress}"]
        if self.loss is not None:
            out.append(f"loss: {self.loss:.4f}")
        if self.eval_loss is not None:
            out.append(f"eval_loss: {self.eval_loss:.4f}")
        if self.best_step is not None:
            out.append(f"best checkpoint: step {self.best_step}")
        out.append(f"elapsed: {format_duration(self.elapsed)}")
        if self.eta is not None:
            out.append(f"ETA: {format_duration(self.eta)}")
        if self.error:
            out.append(f"error: {self.error}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        cells = []
        for line in self.lines():
            label, _, value = line.partition(": ")
            cells.append(f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
                         f"<td style='text-align:left'>{html.escape(value)}</td></tr>")
        return "<table class='llm-magic-status'>" + "".join(cells) + "</table>"
