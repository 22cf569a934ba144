"""One fine-tuning run: ``trainer:`` settings -> ``TrainingArguments`` + callbacks -> HF ``Trainer``.

:func:`run_job` trains a loaded model in place on a :class:`~.job.FinetuneJob` and returns a
:class:`RunResult`; both executors call it (the kernel's ``training.api``, and ``Session.train``
inside each process of a multi-process job). It:

- validates on the validation split at the configured cadence and keeps the best weights by
  ``trainer.validation_metric`` (HF ``load_best_model_at_end``), with early stopping;
- stops cleanly when ``stop_event`` is set (Stop button, ``--stop``) or on Ctrl-C: the current
  step finishes, a full checkpoint (weights, optimizer, scheduler, RNG) is written to
  ``<output_dir>/checkpoint-<step>``, and the weights reached so far stay in the model;
- on a NaN/inf or exploding loss restores the trainable weights from before the run and raises.
"""
from __future__ import annotations

import math
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, Sequence

import torch
from transformers import (
    EarlyStoppingCallback,
    PreTrainedTokenizerBase,
    PrinterCallback,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.data.prepare import model_context_length
from llm_magic.runtime.data.tokenize import SequenceLimits
from llm_magic.runtime.evaluation.evaluate import sample_generator
from llm_magic.runtime.evaluation.metrics import compute_token_metrics, preprocess_logits_for_metrics
from llm_magic.runtime.generation.runner import prompt_limits
from llm_magic.runtime.models.seeding import full_determinism
from llm_magic.runtime.training.callbacks import (
    ClipCallback,
    MetricsCallback,
    NanGuardCallback,
    SampleCallback,
    StopCallback,
    ThreadsCallback,
)
from llm_magic.runtime.training import packing
from llm_magic.runtime.training import preference as preference_tuning
from llm_magic.runtime.training.data import SplitData
from llm_magic.runtime.training.job import FinetuneJob
from llm_magic.runtime.training.loggers import MetricLogger
from llm_magic.runtime.training.runs import TrainingState
from llm_magic.runtime.training.settings import TrainerSettings
from llm_magic.runtime.training.trainer import LlmTrainer

__all__ = ["NAN_CAUSES", "RunResult", "SAMPLE_MAX_NEW_TOKENS", "SigintToStop", "latest_checkpoint", "run_job"]

#: Length of the answers ``--sample-every`` generates (for the rows it shows).
SAMPLE_MAX_NEW_TOKENS = 16

NAN_CAUSES = (
    "Likely causes: the learning rate is too high (try 10x lower, e.g. trainer.learning_rate: "
    "0.0001, or add learning_rate_scheduler.warmup_fraction: 0.03); fp16 overflow (use bf16 or "
    "set trainer.use_mixed_precision: false); or bad data (empty targets, extremely long rows, "
    "corrupt text). The weights were restored to where they were before this run."
)


@dataclass
class RunResult:
    """What a run did: how far it got, how it ended, and where its checkpoints are."""

    run_id: str
    output_dir: str
    status: str  # "finished", "early_stopped" or "stopped"
    global_step: int
    max_steps: int
    epoch: float
    best_step: int | None = None
    best_metric: float | None = None
    checkpoint: str | None = None
    train_loss: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def latest_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir`` (None when there is none)."""
    return get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None


def _eval_schedule(settings: TrainerSettings, steps_per_epoch: int) -> tuple[str, int | None]:
    """HF ``eval_strategy`` and ``eval_steps`` from steps_per_checkpoint / checkpoints_per_epoch."""
    if settings.steps_per_checkpoint:
        return "steps", settings.steps_per_checkpoint
    if settings.checkpoints_per_epoch:
        return "steps", max(1, math.ceil(steps_per_epoch / settings.checkpoints_per_epoch))
    return "epoch", None


def _precision(settings: TrainerSettings, notes: list[str]) -> dict[str, bool]:
    if not settings.use_mixed_precision:
        return {}
    if torch.cuda.is_available():
        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    notes.append("use_mixed_precision: no CUDA GPU, so training runs in the model's own dtype.")
    return {}


def build_arguments(settings: TrainerSettings, output_dir: str, steps_per_epoch: int, has_eval: bool,
                    notes: list[str], seed: int = 42, padding_free: bool = False,
                    max_length: int | None = None) -> TrainingArguments:
    """``TrainingArguments`` for ``settings`` (one process, our own progress display).

    ``max_length``: the token limit of a preference row (prompt + answer), which TRL's trainers
    cut themselves (a fine-tune's rows are cut when they are tokenized, before this).
    """
    strategy, interval = _eval_schedule(settings, steps_per_epoch)
    evaluate = has_eval and not settings.skip_all_evaluation
    metric = settings.validation_metric
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__ else "gradient_checkpointing"
    kwargs: dict[str, Any] = dict(
        output_dir=output_dir,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        auto_find_batch_size=settings.auto_batch_size,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.train_steps or -1,
        max_grad_norm=float(settings.clip_global_norm or 0.0),
        weight_decay=0.0,  # the optimizer gets Ludwig's weight_decay itself
        eval_strategy=strategy if evaluate else "no",
        eval_steps=interval,
        save_strategy=strategy if evaluate else "no",
        save_steps=interval,
        # Keeps the best checkpoint plus the newest (to resume from).
        save_total_limit=2,
        load_best_model_at_end=evaluate,
        metric_for_best_model=f"eval_{metric}" if evaluate else None,
        greater_is_better=settings.greater_is_better if evaluate else None,
        logging_strategy="steps",
        logging_steps=1,
        # We want to see a NaN loss, not have it averaged away.
        logging_nan_inf_filter=False,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        label_names=["labels"],
        # Shuffled batches of rows of similar length (HF's LengthGroupedSampler: random groups of
        # 50 batches, sorted within): each batch pads to its longest row, so mixed-length data
        # computes on far fewer pad tokens (benchmarks/bench_finetune.py: ~1.5-2x tokens/s).
        # Padding-free batches have no padding to save: plain shuffling then.
        train_sampling_strategy=("sequential" if not settings.should_shuffle
                                 else "random" if padding_free else "group_by_length"),
        torch_compile=settings.compile,
        use_cpu=not torch.cuda.is_available(),
        dataloader_pin_memory=torch.cuda.is_available(),
        seed=seed,
        # Deterministic CUDA kernels, opt-in because they are slower (models/seeding.py).
        full_determinism=full_determinism(),
        log_level="error",
        **_precision(settings, notes),
    )
    if settings.gradient_checkpointing:
        kwargs[checkpointing] = True
        kwargs[f"{checkpointing}_kwargs"] = {"use_reentrant": False}
    if settings.preference is not None:
        return preference_tuning.preference_arguments(settings.preference, {**kwargs, "max_length": max_length})
    return TrainingArguments(**kwargs)


def _freeze(model: torch.nn.Module, pattern: str | None) -> dict[str, bool]:
    """Freeze parameters whose name matches ``pattern``; return the flags to restore later."""
    if not pattern:
        return {}
    regex = re.compile(pattern)
    changed = {}
    for name, param in model.named_parameters():
        if param.requires_grad and regex.search(name):
            changed[name] = True
            param.requires_grad = False
    if not changed:
        raise LlmMagicError(
            f"trainer.layers_to_freeze_regex {pattern!r} matches no trainable parameter. Parameter "
            "names look like " + ", ".join(n for n, p in list(model.named_parameters())[:3] if p.requires_grad) + "."
        )
    return changed


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the trainable weights, to roll back a run that diverged."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def _restore(model: torch.nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in snapshot:
                param.copy_(snapshot[name].to(param.device))


class SigintToStop:
    """While active, Ctrl-C (SIGINT) asks the run to stop after this step; later presses wait.

    The first press sets ``event``: the run ends its step, writes a checkpoint and returns as a
    stopped run. Further presses are absorbed (with one line saying so), because aborting then
    could cut the checkpoint, its rotation or the run record in half; stopping after the
    current step is already under way.
    """

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        # What SIGINT did before (a handler, or SIG_DFL / SIG_IGN), put back on exit.
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None
        self.active = False
        self.told = False

    def __enter__(self) -> "SigintToStop":
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
            self.active = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            if not self.told:
                self.told = True
                print("Already stopping: the run ends after this step and writes its checkpoint.",
                      flush=True)
            return
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self.previous)


def run_job(job: FinetuneJob, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, state: TrainingState, *,
            loggers: Sequence[MetricLogger] = (), callbacks: Sequence[TrainerCallback] = (),
            sample_generate: Callable[[torch.nn.Module, list[str]], list[str]] | None = None) -> RunResult:
    """Fine-tune ``model`` in place on ``job.prepared`` as ``job.settings`` say; see the module docstring.

    ``state`` gives the run its stop event and the history its logged steps go to; ``callbacks``
    are further HF ``TrainerCallback``s (the experiment trackers'). ``sample_generate`` answers
    ``--sample-every`` prompts (default: greedy answers as the job's config generates them).
    """
    settings, data, output_dir, run_id, seed = job.settings, job.prepared, job.output_dir, job.run_id, job.seed
    if data is None or not len(data.train):
        raise DataError("No training rows: the train split is empty. Pass more data with --data.")
    stop_event, history = state.stop_event, state.history
    notes = list(data.notes)
    if job.sample_every and sample_generate is None and job.config is not None:

        sample_generate = sample_generator(tokenizer, SAMPLE_MAX_NEW_TOKENS, data.add_special_tokens,
                                           prompt_limits(job.config))
    validation = data.split("validation")
    eval_rows = validation.rows if validation else None
    if eval_rows is not None and settings.eval_steps:
        eval_rows = list(eval_rows)[: settings.eval_steps * settings.eval_batch_size]
    batches = math.ceil(len(data.train) / settings.batch_size)
    steps_per_epoch = max(1, math.ceil(batches / settings.gradient_accumulation_steps))
    preference = settings.preference
    if preference is not None:
        preference_tuning.require_trl(preference.kind)
    # Padding-free batches are ours; TRL's preference trainers collate their own.
    padding_free = preference is None and packing.padding_free_applies(model)
    max_length = None
    if preference is not None and job.config is not None:
        max_length = SequenceLimits.from_config(job.config, model_context_length(tokenizer, model)).max_total
    args = build_arguments(settings, output_dir, steps_per_epoch, eval_rows is not None, notes, seed,
                           padding_free=padding_free, max_length=max_length)
    args.run_name = run_id  # the trackers' run name
    evaluating = args.eval_strategy != "no"
    if not evaluating and settings.early_stop > 0:
        notes.append("No validation split: no early stopping and no best-checkpoint selection.")

    metrics_cb = MetricsCallback(run_id, loggers, history)
    stop_cb, nan_cb = StopCallback(stop_event), NanGuardCallback()
    trainer_callbacks: list[TrainerCallback] = [metrics_cb, stop_cb, nan_cb, ThreadsCallback()]
    if evaluating and settings.early_stop > 0:
        trainer_callbacks.append(EarlyStoppingCallback(early_stopping_patience=settings.early_stop))
    if settings.clip_norm or settings.clip_value:
        trainer_callbacks.append(ClipCallback(settings.clip_norm, settings.clip_value))
    if job.sample_every and sample_generate is not None and validation:
        examples = [{"prompt": p, "target": t} for p, t in list(zip(validation.prompts, validation.targets))[:3]]
        trainer_callbacks.append(SampleCallback(job.sample_every, examples, sample_generate, metrics_cb.emit_samples))
    trainer_callbacks.extend(callbacks)

    frozen = _freeze(model, settings.layers_to_freeze_regex)
    snapshot = _snapshot(model)
    ludwig = dict(settings=settings, loraplus_lr_ratio=job.loraplus_lr_ratio,
                  eval_interval=args.eval_steps if args.eval_strategy == "steps" else steps_per_epoch)
    if preference is not None:
        trimmed = validation
        if validation is not None and settings.eval_steps:
            keep = settings.eval_steps * settings.eval_batch_size
            trimmed = SplitData(validation.rows[:keep], validation.prompts[:keep], validation.targets[:keep],
                                rejected=validation.rejected and validation.rejected[:keep],
                                desirable=validation.desirable and validation.desirable[:keep])
        trainer = preference_tuning.build_preference_trainer(
            preference, model=model, args=args, train=data.train, validation=trimmed if evaluating else None,
            tokenizer=tokenizer, callbacks=trainer_callbacks, seed=seed, **ludwig)
    else:
        trainer = LlmTrainer(
            model=model,
            args=args,
            train_dataset=data.train.rows,
            eval_dataset=eval_rows,
            data_collator=data.collator,
            processing_class=tokenizer,
            callbacks=trainer_callbacks,
            compute_metrics=compute_token_metrics if evaluating else None,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics if evaluating else None,
            train_collator=packing.padding_free_collator() if padding_free else None,
            **ludwig,
        )
    # Our loggers replace HF's console printer (it would print every log dict).
    trainer.remove_callback(PrinterCallback)
    started = time.monotonic()
    train_output = None
    try:
        with SigintToStop(stop_event):
            train_output = trainer.train(resume_from_checkpoint=job.resume_from)
    except KeyboardInterrupt:
        # Not a SIGINT (SigintToStop absorbs those) but one raised by code, e.g. a callback: the
        # weights may be mid-step, so no checkpoint is written now; the run record then points
        # at the last complete one (``recorded``).
        raise
    finally:
        for name, param in model.named_parameters():
            if name in frozen:
                param.requires_grad = True
        if settings.gradient_checkpointing and hasattr(model, "gradient_checkpointing_disable"):
            model.gradient_checkpointing_disable()
        model.eval()

    progress = trainer.state  # HF's TrainerState (not the session's TrainingState)
    if nan_cb.problem:
        _restore(model, snapshot)
        for logger in metrics_cb.loggers:
            logger.on_status("failed", progress.global_step)
        raise LlmMagicError(f"Training stopped at step {nan_cb.step}: {nan_cb.problem}. {NAN_CAUSES}")
    if stop_cb.stopped_at is not None:
        status = "stopped"
    elif progress.global_step < progress.max_steps:
        status = "early_stopped"
    else:
        status = "finished"
    checkpoint = os.path.join(output_dir, f"checkpoint-{progress.global_step}")
    return RunResult(
        run_id=run_id,
        output_dir=output_dir,
        status=status,
        global_step=progress.global_step,
        max_steps=progress.max_steps,
        epoch=float(progress.epoch or 0.0),
        best_step=progress.best_global_step,
        best_metric=progress.best_metric,
        checkpoint=checkpoint if os.path.isdir(checkpoint) else latest_checkpoint(output_dir),
        train_loss=getattr(train_output, "training_loss", None),
        seconds=time.monotonic() - started,
        notes=notes,
    )

