"""The ``trainer:`` block as a run reads it: a view derived once from the validated schema.

Every default and rule of ``trainer:`` lives in the config language: the pydantic
``FinetuneTrainer`` (``runtime/config/schema/trainer.py``) holds the defaults and
``runtime/config/rules/training.py`` the cross-field rules, so a bad trainer block fails at
``%%llm_config`` time with its key and line. :func:`settings_from_config` only flattens the
validated block into the numbers the HF ``Trainer`` takes (``auto`` resolved, accumulation
computed); it has no defaults and no checks of its own. Nothing here imports torch.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Union

from pydantic import TypeAdapter, ValidationError

from llm_magic.errors import ConfigError, ConfigErrorItem
from llm_magic.runtime.config.rules import check_rules
from llm_magic.runtime.config.schema.trainer import (
    VALIDATION_METRICS, DPOTrainerConfig, FinetuneTrainer, KTOTrainerConfig, NoneTrainer, ORPOTrainerConfig, Trainer,
)

__all__ = ["INERT_KEYS", "LEARNING_RATE_SCALING", "PreferenceSettings", "TrainerSettings", "scale_for_processes", "settings_from_config",
           "validate_trainer"]

logger = logging.getLogger(__name__)

#: Trainer keys accepted for Ludwig compatibility that have no effect in a one-process run; a key
#: set away from its schema default is reported in the run's notes. docs/training.md gives the reasons.
INERT_KEYS = ("max_batch_size", "learning_rate_scaling", "base_learning_rate", "increase_batch_size_on_plateau",
              "bucketing_field", "model_soup", "enable_profiling", "evaluate_training_set")

# When batch_size is `auto` we start here and let HF halve it on out-of-memory errors.
AUTO_START_BATCH_SIZE = 8

AnyTrainer = Union[FinetuneTrainer, NoneTrainer]  # the preference configs are FinetuneTrainers
_TRAINER = TypeAdapter(Trainer)


@dataclass
class PreferenceSettings:
    """What a preference run (``dpo``, ``kto``, ``orpo``) reads beyond the fine-tune settings."""

    kind: str
    #: TRL's ``beta`` (``dpo_beta``, ``kto_beta`` or ``orpo_beta``).
    beta: float
    rejected_column: str
    #: DPO only: ``sigmoid`` or ``ipo``; and the conservative-DPO label smoothing.
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0
    #: KTO only: the desirable/undesirable column of unpaired data.
    label_column: str | None = None


@dataclass
class TrainerSettings:
    """Everything a fine-tuning run reads from ``trainer:``, derived by :func:`settings_from_config`."""

    type: str
    learning_rate: float
    epochs: int
    train_steps: int | None
    batch_size: int
    auto_batch_size: bool
    eval_batch_size: int
    gradient_accumulation_steps: int
    early_stop: int
    eval_steps: int | None
    steps_per_checkpoint: int
    checkpoints_per_epoch: int
    skip_all_evaluation: bool
    validation_metric: str
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    clip_global_norm: float | None
    clip_norm: float | None
    clip_value: float | None
    regularization_type: str | None
    regularization_lambda: float
    should_shuffle: bool
    use_mixed_precision: bool
    compile: bool
    gradient_checkpointing: bool
    layers_to_freeze_regex: str | None
    #: How ``learning_rate`` grows with the number of processes (Ludwig's multi-worker rule).
    learning_rate_scaling: str
    #: Keys of :data:`INERT_KEYS` the user set to a non-default value (reported, not applied).
    inert_set: list[str]
    #: Set for the preference trainers; None for ``finetune``.
    preference: PreferenceSettings | None = None

    @property
    def greater_is_better(self) -> bool:
        """Whether a higher validation metric is better (accuracy) or lower (loss, perplexity)."""
        return VALIDATION_METRICS[self.validation_metric]

    @property
    def effective_batch_size(self) -> int:
        """Rows per optimizer step (one process)."""
        return self.batch_size * self.gradient_accumulation_steps


def validate_trainer(raw: Mapping[str, Any]) -> AnyTrainer:
    """A ``trainer:`` block given as a dict, validated as ``%%llm_config`` would (schema and rules).

    A dict without ``type`` is a fine-tune here (what a run needs settings for). Raises
    :class:`~llm_magic.errors.ConfigError` naming each key.
    """
    raw = {"type": "finetune", **dict(raw)}
    try:
        trainer = _TRAINER.validate_python(raw)
    except ValidationError as exc:
        raise ConfigError([ConfigErrorItem(".".join(["trainer", *map(str, e["loc"][1:])]), None, e["msg"])
                           for e in exc.errors()]) from None
    problems = check_rules({"trainer": trainer}, {"trainer": raw}, lambda path: None)
    if problems:
        raise ConfigError(problems)
    return trainer


def settings_from_config(trainer: AnyTrainer | Mapping[str, Any] | None) -> TrainerSettings:
    """The :class:`TrainerSettings` of a validated ``config.trainer``.

    A dict (tests, the Python API) is validated first (:func:`validate_trainer`); a ``none``
    trainer, which never trains, reads the fine-tune defaults for what it lacks.
    """
    if trainer is None or isinstance(trainer, Mapping):
        trainer = validate_trainer(trainer or {})
    t = trainer if isinstance(trainer, FinetuneTrainer) else _as_finetune(trainer)
    auto_batch = t.batch_size == "auto"
    batch = AUTO_START_BATCH_SIZE if auto_batch else t.batch_size
    clipping = t.gradient_clipping
    return TrainerSettings(
        type=trainer.type,
        # The rule learning_rate_is_a_number refuses `auto` at config time.
        learning_rate=float(t.learning_rate),
        epochs=t.epochs,
        train_steps=t.train_steps,
        batch_size=batch,
        auto_batch_size=auto_batch,
        eval_batch_size=batch if t.eval_batch_size in (None, 0, "auto") else t.eval_batch_size,
        gradient_accumulation_steps=_accumulation(t, batch),
        early_stop=t.early_stop,
        eval_steps=t.eval_steps or None,
        steps_per_checkpoint=t.steps_per_checkpoint,
        checkpoints_per_epoch=t.checkpoints_per_epoch,
        skip_all_evaluation=t.skip_all_evaluation,
        validation_metric=t.validation_metric or "loss",
        optimizer=t.optimizer.model_dump(),
        scheduler=t.learning_rate_scheduler.model_dump(),
        clip_global_norm=clipping.clipglobalnorm,
        clip_norm=clipping.clipnorm,
        clip_value=clipping.clipvalue,
        regularization_type=t.regularization_type,
        regularization_lambda=t.regularization_lambda,
        should_shuffle=t.should_shuffle,
        use_mixed_precision=t.use_mixed_precision,
        compile=t.compile,
        gradient_checkpointing=t.enable_gradient_checkpointing,
        layers_to_freeze_regex=t.layers_to_freeze_regex or None,
        learning_rate_scaling=t.learning_rate_scaling,
        inert_set=[key for key in INERT_KEYS if key in type(t).model_fields
                   and getattr(t, key) != type(t).model_fields[key].get_default(call_default_factory=True)],
        preference=_preference(t),
    )


def _preference(t: FinetuneTrainer) -> PreferenceSettings | None:
    if isinstance(t, DPOTrainerConfig):
        return PreferenceSettings("dpo", t.dpo_beta, t.rejected_column, t.dpo_loss_type, t.dpo_label_smoothing)
    if isinstance(t, KTOTrainerConfig):
        return PreferenceSettings("kto", t.kto_beta, t.rejected_column, label_column=t.label_column)
    if isinstance(t, ORPOTrainerConfig):
        return PreferenceSettings("orpo", t.orpo_beta, t.rejected_column)
    return None


def _as_finetune(trainer: NoneTrainer) -> FinetuneTrainer:
    """The fine-tune block with ``trainer``'s shared fields (evaluation reads its batch sizes)."""
    shared = {k: v for k, v in trainer.model_dump().items() if k in FinetuneTrainer.model_fields and k != "type"}
    return FinetuneTrainer.model_validate(shared)


def _accumulation(t: FinetuneTrainer, batch_size: int) -> int:
    """Gradient accumulation from ``gradient_accumulation_steps`` and ``effective_batch_size``
    (the rule batch_sizes_divide has checked they agree)."""
    if isinstance(t.gradient_accumulation_steps, int):
        return t.gradient_accumulation_steps
    if isinstance(t.effective_batch_size, int):
        return max(1, t.effective_batch_size // batch_size)
    return 1


# Ludwig's learning_rate_scale_fns: the factor for N processes (trainer.learning_rate_scaling).
LEARNING_RATE_SCALING = {"constant": lambda n: 1.0, "sqrt": math.sqrt, "linear": float}


def scale_for_processes(settings: TrainerSettings, processes: int) -> tuple[TrainerSettings, str | None]:
    """``settings`` with ``trainer.learning_rate_scaling`` applied for a run on ``processes`` processes,
    as Ludwig does for its distributed workers (default ``linear``: N processes take an N-times
    larger step, since each step sees N times the rows), and a note for the run (None when nothing
    changed). ``settings`` itself is left as it is: it belongs to a frozen ``FinetuneJob``.
    """
    if processes <= 1:
        return settings, None
    rule = settings.learning_rate_scaling
    factor = LEARNING_RATE_SCALING[rule](processes)
    if factor == 1.0:
        return settings, None
    base = settings.learning_rate
    scaled = dataclasses.replace(settings, learning_rate=base * factor)
    return scaled, (f"learning_rate_scaling: {rule}: the learning rate is {base:g} x {factor:g} = "
                    f"{scaled.learning_rate:g} on {processes} processes (Ludwig's multi-worker rule; "
                    f"learning_rate_scaling: constant keeps {base:g}).")
