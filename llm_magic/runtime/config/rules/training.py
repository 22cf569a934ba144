"""Rules about ``trainer`` and global ``preprocessing``.

Every ``trainer:`` problem is found here, at ``%%llm_config`` time with its YAML line; the run
reads a :class:`~llm_magic.runtime.training.settings.TrainerSettings` derived from the validated
block and checks nothing of its own.
"""
from __future__ import annotations

import re

from llm_magic.runtime.config.effects import WITHOUT_EFFECT
from llm_magic.runtime.config.rules.registry import rule
from llm_magic.runtime.config.schema.trainer import (
    MOMENTUM_REQUIRED, OPTIMIZER_FIELDS, PREFERENCE_TRAINERS, TRAINING_TRAINERS, VALIDATION_METRICS,
)


@rule("trainer")
def batch_sizes_divide(c):
    """Ludwig's trainer post-init: the effective batch is made of whole batches and accumulations."""
    t = c.trainer
    if t.type not in TRAINING_TRAINERS:
        return
    eff, bs, ga = t.effective_batch_size, t.batch_size, t.gradient_accumulation_steps
    if isinstance(eff, int):
        if isinstance(bs, int) and (eff < bs or eff % bs):
            yield ("trainer.effective_batch_size",
                   f"{eff} must be a multiple of batch_size ({bs}); e.g. {bs * max(1, eff // bs)}.")
        if isinstance(ga, int) and (eff < ga or eff % ga):
            yield ("trainer.effective_batch_size",
                   f"{eff} must be a multiple of gradient_accumulation_steps ({ga}).")
        if t.max_batch_size < eff:
            yield ("trainer.max_batch_size",
                   f"{t.max_batch_size} is smaller than effective_batch_size ({eff}).")
        if isinstance(bs, int) and isinstance(ga, int) and eff != bs * ga:
            yield ("trainer.effective_batch_size",
                   f"batch_size x gradient_accumulation_steps is {bs} x {ga} = {bs * ga}, but effective_batch_size "
                   f"{eff} is set; set one of the three to `auto`.")
    if isinstance(bs, int) and t.max_batch_size < bs:
        yield ("trainer.max_batch_size", f"{t.max_batch_size} is smaller than batch_size ({bs}).")


@rule("trainer")
def one_checkpoint_schedule(c):
    """Ludwig fails at run time when both are set; we say so before anything loads."""
    t = c.trainer
    if t.steps_per_checkpoint and t.checkpoints_per_epoch:
        yield ("trainer.checkpoints_per_epoch",
               f"steps_per_checkpoint and checkpoints_per_epoch are both set ({t.steps_per_checkpoint} and "
               f"{t.checkpoints_per_epoch}); set either steps_per_checkpoint (evaluate every N steps) or "
               "checkpoints_per_epoch (N times per epoch), not both.")


@rule("trainer")
def learning_rate_is_a_number(c):
    """Ludwig's ``auto`` runs a learning-rate range test before training; llm_magic has none."""
    if c.trainer.learning_rate == "auto":
        yield ("trainer.learning_rate",
               "'auto' (Ludwig's learning-rate range test) is not supported by llm_magic. Set a number, "
               "e.g. learning_rate: 0.0002 for an adapter or 0.00002 for a full fine-tune.")


@rule("trainer")
def validation_metric_known(c):
    """A fine-tune selects checkpoints by one of the text-output metrics it computes."""
    t = c.trainer
    if t.type == "finetune" and t.validation_metric is not None and t.validation_metric not in VALIDATION_METRICS:
        yield ("trainer.validation_metric",
               f"{t.validation_metric!r} is not a text-output metric; use one of {', '.join(VALIDATION_METRICS)}.")
    if t.type in PREFERENCE_TRAINERS and t.validation_metric not in (None, "loss"):
        yield ("trainer.validation_metric",
               f"{t.validation_metric!r}: a {t.type} run selects checkpoints by its preference loss only; "
               "remove validation_metric or set it to loss.")


@rule("trainer")
def kto_batches_of_two(c):
    """TRL's KTO estimates its KL term by pairing each row with another row of its batch."""
    t = c.trainer
    # Only a batch size the user wrote: an unset one (Ludwig's default 1) is derived as 2 (config/derive.py).
    if t.type == "kto" and "batch_size" in t.model_fields_set and isinstance(t.batch_size, int) and t.batch_size < 2:
        yield ("trainer.batch_size",
               f"{t.batch_size}: a kto run needs at least 2 rows per step (its KL estimate pairs each row with "
               "another of its batch); set batch_size: 4, for example.")


@rule("trainer")
def freeze_regex_compiles(c):
    pattern = getattr(c.trainer, "layers_to_freeze_regex", None)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            yield ("trainer.layers_to_freeze_regex", f"invalid regular expression: {exc}.")


@rule("preprocessing")
def sample_size_or_ratio(c):
    p = c.preprocessing
    if p.sample_size is not None and p.sample_ratio < 1:
        yield ("preprocessing.sample_size",
               f"set either sample_size ({p.sample_size}) or sample_ratio ({p.sample_ratio}), not both.")


@rule("preprocessing")
def split_column_given(c):
    split = c.preprocessing.split
    if split.type in ("stratify", "datetime", "hash") and getattr(split, "column", None) is None:
        yield ("preprocessing.split.column", f"a {split.type} split needs `column:` naming the column to use.")


@rule("trainer")
def optimizer_fields_fit_type(c):
    """A field the chosen optimizer type does not take would be dropped, so a set value is an error.

    Fields left at their defaults pass: the block has every optimizer's fields, so the shared
    defaults (``betas``, ``eps``, ...) are present whatever the type.
    """
    optimizer = getattr(c.trainer, "optimizer", None)
    takes = OPTIMIZER_FIELDS.get(getattr(optimizer, "type", None))
    if takes is None:  # no optimizer block, or a type refused at run time (lbfgs, muon, soap)
        return
    fields = type(optimizer).model_fields
    for name, info in fields.items():
        if name == "type" or name in takes or f"OptimizerConfig.{name}" in WITHOUT_EFFECT:
            continue
        if getattr(optimizer, name) != info.get_default(call_default_factory=True):
            yield (f"trainer.optimizer.{name}",
                   f"`{name}` does not apply to optimizer type {optimizer.type!r}, so it would have no "
                   f"effect; remove it or pick a type that takes it. {optimizer.type} takes: "
                   f"{', '.join(sorted(takes))}.")
    if optimizer.type in MOMENTUM_REQUIRED and not optimizer.momentum:
        yield ("trainer.optimizer.momentum",
               f"optimizer type {optimizer.type!r} (bitsandbytes) has no momentum-free variant; set "
               "momentum above 0 (e.g. 0.9) or use type: sgd.", "trainer.optimizer.type")
