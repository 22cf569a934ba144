"""The ``trainer:`` block of a config, resolved into the numbers a run needs (spec section 7).

:func:`settings_from_config` reads ``config.trainer`` (the pydantic model or a plain dict), fills
Ludwig's defaults for anything missing, resolves ``auto`` values and the interplay of
``batch_size`` / ``gradient_accumulation_steps`` / ``effective_batch_size``, and rejects what only
a run can detect (both checkpoint cadences set, ``learning_rate: auto``). Nothing here imports
torch.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from llm_magic.errors import LlmMagicError

__all__ = ["INERT_KEYS", "LEARNING_RATE_SCALING", "TrainerSettings", "scale_for_processes", "settings_from_config",
           "trainer_dict"]

# Keys accepted for Ludwig compatibility that have no effect in a single-process notebook run,
# with their defaults (a key set to anything else is reported). docs/training.md gives the reasons.
INERT_KEYS: dict[str, Any] = {
    "max_batch_size": 2**40,
    "learning_rate_scaling": "linear",
    "base_learning_rate": 0.0,
    "increase_batch_size_on_plateau": 0,
    "bucketing_field": None,
    "model_soup": None,
    "enable_profiling": False,
    "evaluate_training_set": False,
}

# Validation metrics a fine-tune can select the best checkpoint by, and whether higher is better.
VALIDATION_METRICS = {
    "loss": False,
    "perplexity": False,
    "next_token_perplexity": False,
    "token_accuracy": True,
    "sequence_accuracy": True,
}

# When batch_size is `auto` we start here and let HF halve it on out-of-memory errors.
AUTO_START_BATCH_SIZE = 8


@dataclass
class TrainerSettings:
    """Everything a fine-tuning run reads from ``trainer:``, defaults filled and ``auto`` resolved."""

    type: str = "none"
    learning_rate: float = 0.001
    epochs: int = 100
    train_steps: int | None = None
    batch_size: int = 1
    auto_batch_size: bool = False
    eval_batch_size: int = 2
    gradient_accumulation_steps: int = 1
    early_stop: int = 5
    eval_steps: int | None = None
    steps_per_checkpoint: int = 0
    checkpoints_per_epoch: int = 0
    skip_all_evaluation: bool = False
    validation_metric: str = "loss"
    optimizer: dict[str, Any] = field(default_factory=lambda: {"type": "adam"})
    scheduler: dict[str, Any] = field(default_factory=dict)
    clip_global_norm: float | None = 0.5
    clip_norm: float | None = None
    clip_value: float | None = None
    regularization_type: str | None = "l2"
    regularization_lambda: float = 0.0
    should_shuffle: bool = True
    use_mixed_precision: bool = False
    compile: bool = False
    gradient_checkpointing: bool = False
    layers_to_freeze_regex: str | None = None
    #: How ``learning_rate`` grows with the number of processes (Ludwig's multi-worker rule).
    learning_rate_scaling: str = "linear"
    #: Keys of :data:`INERT_KEYS` the user set to a non-default value (reported, not applied).
    inert_set: list[str] = field(default_factory=list)

    @property
    def greater_is_better(self) -> bool:
        """Whether a higher validation metric is better (accuracy) or lower (loss, perplexity)."""
        return VALIDATION_METRICS[self.validation_metric]

    @property
    def effective_batch_size(self) -> int:
        """Rows per optimizer step (one process)."""
        return self.batch_size * self.gradient_accumulation_steps


def trainer_dict(trainer: Any) -> dict[str, Any]:
    """``config.trainer`` as a plain dict, whatever form it came in (pydantic model, dict, None)."""
    if trainer is None:
        return {}
    if hasattr(trainer, "model_dump"):
        return trainer.model_dump()
    if isinstance(trainer, dict):
        return dict(trainer)
    return dict(vars(trainer))


def _sub(block: Any) -> dict[str, Any]:
    return trainer_dict(block) if block is not None else {}


def _positive_int(raw: dict, key: str, default: int | None) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LlmMagicError(f"trainer.{key}: expected a positive integer, got {value!r}.")
    return value


def settings_from_config(trainer: Any) -> TrainerSettings:
    """Resolve ``config.trainer`` into :class:`TrainerSettings` (raises ``LlmMagicError``)."""
    raw = trainer_dict(trainer)
    s = TrainerSettings(type=str(raw.get("type") or "none").lower())

    lr = raw.get("learning_rate", 0.001)
    if lr == "auto":
        raise LlmMagicError(
            "trainer.learning_rate: 'auto' (a learning-rate range test) is not supported here. "
            "Set a number, e.g. learning_rate: 0.0002 for LoRA or 0.00002 for a full fine-tune."
        )
    s.learning_rate = float(lr)
    s.epochs = _positive_int(raw, "epochs", 100) or 100
    s.train_steps = _positive_int(raw, "train_steps", None)

    batch = raw.get("batch_size", 1)
    if batch == "auto":
        s.auto_batch_size, s.batch_size = True, AUTO_START_BATCH_SIZE
    else:
        s.batch_size = _positive_int(raw, "batch_size", 1) or 1
    eval_batch = raw.get("eval_batch_size", 2)
    s.eval_batch_size = s.batch_size if eval_batch in (None, 0, "auto") else int(eval_batch)
    s.gradient_accumulation_steps = _resolve_accumulation(raw, s.batch_size)

    s.early_stop = int(raw.get("early_stop", 5))
    eval_steps = raw.get("eval_steps")
    s.eval_steps = int(eval_steps) if eval_steps else None
    s.steps_per_checkpoint = int(raw.get("steps_per_checkpoint") or 0)
    s.checkpoints_per_epoch = int(raw.get("checkpoints_per_epoch") or 0)
    if s.steps_per_checkpoint and s.checkpoints_per_epoch:
        raise LlmMagicError(
            "trainer: steps_per_checkpoint and checkpoints_per_epoch are both set "
            f"({s.steps_per_checkpoint} and {s.checkpoints_per_epoch}). Set only one of them: "
            "steps_per_checkpoint evaluates every N steps, checkpoints_per_epoch N times per epoch."
        )
    s.skip_all_evaluation = bool(raw.get("skip_all_evaluation", False))

    metric = raw.get("validation_metric") or "loss"
    if metric not in VALIDATION_METRICS:
        raise LlmMagicError(
            f"trainer.validation_metric: {metric!r} is not a text-output metric. Use one of "
            f"{', '.join(VALIDATION_METRICS)}."
        )
    s.validation_metric = metric

    s.optimizer = {"type": "adam", **_sub(raw.get("optimizer"))}
    s.scheduler = _sub(raw.get("learning_rate_scheduler"))
    clipping = {"clipglobalnorm": 0.5, **_sub(raw.get("gradient_clipping"))}
    s.clip_global_norm = clipping.get("clipglobalnorm")
    s.clip_norm = clipping.get("clipnorm")
    s.clip_value = clipping.get("clipvalue")
    s.regularization_type = raw.get("regularization_type", "l2")
    s.regularization_lambda = float(raw.get("regularization_lambda") or 0.0)
    s.should_shuffle = bool(raw.get("should_shuffle", True))
    s.use_mixed_precision = bool(raw.get("use_mixed_precision", False))
    s.compile = bool(raw.get("compile", False))
    s.gradient_checkpointing = bool(raw.get("enable_gradient_checkpointing", False))
    regex = raw.get("layers_to_freeze_regex")
    if regex:
        try:
            re.compile(regex)
        except re.error as exc:
            raise LlmMagicError(f"trainer.layers_to_freeze_regex: {regex!r} is not a valid regex ({exc}).")
    s.layers_to_freeze_regex = regex or None
    s.learning_rate_scaling = str(raw.get("learning_rate_scaling") or "linear")
    s.inert_set = [key for key, default in INERT_KEYS.items() if raw.get(key, default) != default]
    return s


# Ludwig's learning_rate_scale_fns: the factor for N processes (trainer.learning_rate_scaling).
LEARNING_RATE_SCALING = {"constant": lambda n: 1.0, "sqrt": math.sqrt, "linear": float}


def scale_for_processes(settings: TrainerSettings, processes: int) -> str | None:
    """Apply ``trainer.learning_rate_scaling`` for a run on ``processes`` processes, as Ludwig does
    for its distributed workers (default ``linear``: N processes take an N-times larger step, since
    each step sees N times the rows). Returns a note for the run, or None when nothing changed.
    """
    if processes <= 1:
        return None
    rule = settings.learning_rate_scaling
    factor = LEARNING_RATE_SCALING[rule](processes)
    if factor == 1.0:
        return None
    base = settings.learning_rate
    settings.learning_rate = base * factor
    return (f"learning_rate_scaling: {rule}: the learning rate is {base:g} x {factor:g} = "
            f"{settings.learning_rate:g} on {processes} processes (Ludwig's multi-worker rule; "
            f"learning_rate_scaling: constant keeps {base:g}).")


def _resolve_accumulation(raw: dict, batch_size: int) -> int:
    """Gradient accumulation from ``gradient_accumulation_steps`` and ``effective_batch_size``."""
    accum = raw.get("gradient_accumulation_steps", "auto")
    effective = raw.get("effective_batch_size", "auto")
    if accum in (None, "auto"):
        if effective in (None, "auto"):
            return 1
        effective = int(effective)
        if effective < batch_size or effective % batch_size:
            raise LlmMagicError(
                f"trainer.effective_batch_size: {effective} must be a multiple of batch_size "
                f"({batch_size}). Set it to e.g. {batch_size * max(1, math.ceil(effective / batch_size))}."
            )
        return effective // batch_size
    accum = int(accum)
    if accum <= 0:
        raise LlmMagicError(f"trainer.gradient_accumulation_steps: expected a positive integer, got {accum}.")
    if effective not in (None, "auto") and int(effective) != accum * batch_size:
        raise LlmMagicError(
            f"trainer: effective_batch_size {effective} != batch_size {batch_size} x "
            f"gradient_accumulation_steps {accum}. Set one of them to 'auto'."
        )
    return accum
