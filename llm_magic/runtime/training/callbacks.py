"""``TrainerCallback``s that connect a Hugging Face training loop to llm_magic.

- :class:`MetricsCallback` forwards HF logs to the metric loggers (numbers through ``log_dict``,
  events through their typed methods) and the session history.
- :class:`StopCallback` ends the run after the current optimizer step when asked (Stop button,
  ``%llm_train --stop``, Ctrl-C) and makes HF write a full checkpoint for ``--resume``.
- :class:`NanGuardCallback` stops a run whose loss turns NaN/inf or explodes.
- :class:`ClipCallback` applies Ludwig's per-parameter ``clipnorm`` and ``clipvalue``, which HF
  lacks (its ``max_grad_norm`` covers ``clipglobalnorm``).
- :class:`SampleCallback` shows the model's greedy answers to a few validation prompts.
- :class:`ThreadsCallback` keeps torch's thread count within the cores other processes leave free.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Sequence

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from llm_magic.runtime.threads import fit_threads_to_load
from llm_magic.runtime.training.loggers import MetricLogger, metric_loggers

__all__ = ["ClipCallback", "MetricsCallback", "NanGuardCallback", "SampleCallback", "StopCallback",
           "ThreadsCallback"]

# HF log keys that are bookkeeping, not metrics worth plotting.
_SKIP_KEYS = {"total_flos", "num_input_tokens_seen", "train_tokens_per_second"}


class MetricsCallback(TrainerCallback):
    """Forwards every HF log to the metric loggers and appends it to ``history`` rows.

    ``history`` is a list of dicts (one per logged step, evaluation merged into its step's row)
    with ``run_id, step, epoch, loss, eval_loss, learning_rate, tokens_per_second``.
    """

    def __init__(self, run_id: str, loggers: Sequence[MetricLogger], history: list[dict]) -> None:
        self.run_id = run_id
        self.loggers = metric_loggers(loggers)
        self.history = history
        self._last_time: float | None = None
        self._last_tokens = 0
        self._best_step: int | None = None

    def emit_samples(self, samples: list[dict], step: int) -> None:
        """Send a round of ``--sample-every`` answers to every logger."""
        for logger in self.loggers:
            logger.on_samples(samples, step)

    def emit_dict(self, payload: dict[str, float], step: int) -> None:
        """Send several numbers to every logger."""
        if payload:
            for logger in self.loggers:
                logger.log_dict(payload, step)

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_time = time.monotonic()
        self._last_tokens = state.num_input_tokens_seen or 0
        self._best_step = state.best_global_step
        for logger in self.loggers:
            logger.on_max_steps(state.max_steps, state.global_step)
        for logger in self.loggers:
            logger.on_status("running", state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        step = state.global_step
        if "train_loss" in logs:  # the end-of-run summary, not a step
            return
        payload = {k: float(v) for k, v in logs.items()
                   if isinstance(v, (int, float)) and k not in _SKIP_KEYS and not k.endswith(("_runtime", "_per_second"))}
        if "loss" in logs:
            now, tokens = time.monotonic(), state.num_input_tokens_seen or 0
            if self._last_time is not None and now > self._last_time and tokens > self._last_tokens:
                payload["tokens_per_second"] = (tokens - self._last_tokens) / (now - self._last_time)
            self._last_time, self._last_tokens = now, tokens
        if "eval_loss" in payload:
            payload["eval_perplexity"] = _safe_exp(payload["eval_loss"])
        self.emit_dict(payload, step)
        self._record(step, payload)

    def on_step_end(self, args, state, control, **kwargs):
        self._check_best(state)

    def on_save(self, args, state, control, **kwargs):
        self._check_best(state)

    def _check_best(self, state) -> None:
        if state.best_global_step and state.best_global_step != self._best_step:
            self._best_step = state.best_global_step
            for logger in self.loggers:
                logger.on_best_step(state.best_global_step, state.global_step)

    def _record(self, step: int, payload: dict[str, float]) -> None:
        row = next((r for r in reversed(self.history[-3:])
                    if r["run_id"] == self.run_id and r["step"] == step), None)
        if row is None:
            row = {"run_id": self.run_id, "step": step, "epoch": None, "loss": None, "eval_loss": None,
                   "learning_rate": None, "tokens_per_second": None}
            self.history.append(row)
        for key in ("epoch", "loss", "eval_loss", "learning_rate", "tokens_per_second"):
            if key in payload:
                row[key] = payload[key]


class StopCallback(TrainerCallback):
    """Stops training at the end of the current optimizer step once ``event`` is set.

    It asks HF to save a checkpoint right then (model, optimizer, scheduler, RNG and trainer
    state), so ``trainer.train(resume_from_checkpoint=...)`` continues exactly, and it skips the
    end-of-epoch evaluation that would otherwise delay the stop.

    In a multi-process run every process must stop at the same step (or the others wait forever
    in the next gradient all-reduce) and all of them take part in the checkpoint: there the
    processes agree at each step end, with one tiny all-reduce, whether any of them was asked.
    """

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.stopped_at: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if _world_size() > 1:
            # Only the agreed answer counts: the event may be set (by the stop-file watcher)
            # between the all-reduce and here, and a process that stopped on it alone would hang.
            if self.stopped_at is None and _any_process(self.event.is_set(), args.device):
                self.event.set()
                self._stop(args, state, control)
            return control
        return self._check(args, state, control)

    def on_log(self, args, state, control, **kwargs):
        # Logging runs before HF's save check of the same step, so a stop asked meanwhile
        # (e.g. from a logger) still ends this step. Not with several processes: they decide
        # together at the step end only.
        if _world_size() > 1:
            return control
        return self._check(args, state, control)

    def _check(self, args, state, control):
        if self.event.is_set() and self.stopped_at is None:
            self._stop(args, state, control)
        return control

    def _stop(self, args, state, control) -> None:
        self.stopped_at = state.global_step
        control.should_training_stop = True
        control.should_save = True
        control.should_evaluate = False
        # A stopped run keeps the weights it reached: the user asked to stop, not to roll back to
        # the best checkpoint, which HF reloads at the end of train() only under this flag (the
        # run's own arguments; a resumed run builds new ones with the flag as configured).
        args.load_best_model_at_end = False

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stopped_at is not None:
            control.should_evaluate = False
            control.should_save = False
        return control


class NanGuardCallback(TrainerCallback):
    """Stops a run whose training loss or gradient norm is NaN/inf, or whose loss explodes.

    "Explodes" means more than ``explode_factor`` times the first logged loss. The offending
    step is neither evaluated nor saved; the runner restores the weights from before the run.
    """

    def __init__(self, explode_factor: float = 10.0) -> None:
        self.explode_factor = explode_factor
        self.first_loss: float | None = None
        self.problem: str | None = None
        self.step: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        loss, grad_norm = logs.get("loss"), logs.get("grad_norm")
        problem = None
        if loss is not None and not math.isfinite(loss):
            problem = f"the training loss became {loss}"
        elif grad_norm is not None and not math.isfinite(grad_norm):
            problem = f"the gradient norm became {grad_norm}"
        elif loss is not None:
            if self.first_loss is None:
                self.first_loss = loss
            elif self.first_loss > 0 and loss > self.explode_factor * self.first_loss:
                problem = f"the training loss exploded from {self.first_loss:.3g} to {loss:.3g}"
        if problem and self.problem is None:
            self.problem, self.step = problem, state.global_step
            control.should_training_stop = True
            control.should_evaluate = False
            control.should_save = False
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.problem:
            control.should_evaluate = False
            control.should_save = False
        return control


class ClipCallback(TrainerCallback):
    """Per-parameter gradient clipping (Ludwig ``clipnorm`` / ``clipvalue``) before each step."""

    def __init__(self, clip_norm: float | None, clip_value: float | None) -> None:
        self.clip_norm = clip_norm
        self.clip_value = clip_value

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        params = [p for p in model.parameters() if p.grad is not None]
        if self.clip_value:
            torch.nn.utils.clip_grad_value_(params, self.clip_value)
        if self.clip_norm:
            for p in params:  # per tensor, as Keras' clipnorm does
                torch.nn.utils.clip_grad_norm_([p], self.clip_norm)


class SampleCallback(TrainerCallback):
    """Every ``every`` steps, logs the model's greedy answers to fixed validation prompts."""

    def __init__(self, every: int, examples: Sequence[dict], generate: Callable[[torch.nn.Module, list[str]], list[str]],
                 emit: Callable[[list[dict], int], None]) -> None:
        self.every = every
        self.examples = list(examples)
        self.generate = generate
        self.emit = emit

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and self.examples and state.global_step % self.every == 0:
            self.emit(self.sample(model), state.global_step)

    def sample(self, model) -> list[dict]:
        """The current answers, as ``{"prompt", "target", "output"}`` dicts."""
        was_training = model.training
        model.eval()
        try:
            outputs = self.generate(model, [ex["prompt"] for ex in self.examples])
        finally:
            model.train(was_training)
        return [{"prompt": ex["prompt"], "target": ex.get("target", ""), "output": out}
                for ex, out in zip(self.examples, outputs)]


def _world_size() -> int:
    """Processes in the initialised process group (1 when there is none)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _any_process(flag: bool, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any of them (a MAX all-reduce)."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _safe_exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


class ThreadsCallback(TrainerCallback):
    """Fits torch's thread count to the machine's load as the run starts and every ``every_s``
    seconds after (:func:`llm_magic.runtime.threads.fit_threads_to_load`), in the training thread."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.checked = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        """Measure the load once before the first step."""
        fit_threads_to_load()
        self.checked = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        """Re-check against the previous sample (no waiting) every ``every_s`` seconds."""
        if time.monotonic() - self.checked >= self.every_s:
            fit_threads_to_load(wait=False)
            self.checked = time.monotonic()
