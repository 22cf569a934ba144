"""Preference tuning (``trainer.type: dpo | kto | orpo``) run by TRL's trainers.

TRL owns the preference losses, their tokenization and their logged metrics (``rewards/chosen``,
``rewards/rejected``, ``rewards/margins``, ``rewards/accuracies``, on training and validation);
llm_magic adds what its fine-tuning adds to HF's ``Trainer`` (Ludwig's optimizer, schedule and
regularization, the stop/keep-weights rule; :class:`~.trainer.LudwigTrainerMixin`) and builds the
datasets from the prepared splits, so the prompt template and retrieval apply as for fine-tuning.

The reference model of DPO and KTO is the base model with the adapter switched off: no second
copy of the model in memory. (TRL would keep a frozen copy of the adapter as it was when the run
started; we drop it, so that a DPO run after a supervised one is measured against the base model,
as docs/preference-tuning.md says.) ORPO has no reference model. Without an adapter (a full
fine-tune, as Ludwig allows) TRL keeps its own frozen copy of the model as the reference.
"""
from __future__ import annotations

import os
import random
import warnings
from typing import TYPE_CHECKING, Any

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.progress import silence_library_bars
from llm_magic.runtime.training.data import SplitData
from llm_magic.runtime.training.settings import PreferenceSettings
from llm_magic.runtime.training.trainer import LudwigTrainerMixin

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments

__all__ = ["INSTALL_HINT", "build_preference_trainer", "preference_arguments", "preference_dataset", "require_trl"]

INSTALL_HINT = "pip install 'llm-magic[preference]'"

# TRL toggles checkpointing around each reference pass through transformers' old method names,
# which warn on every call: one FutureWarning per step says nothing to a user.
warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)


def require_trl(kind: str) -> None:
    """Raise a one-line error naming the extra when TRL is not installed."""
    import importlib.util

    if importlib.util.find_spec("trl") is None:
        raise LlmMagicError(f"trainer.type: {kind} is run by TRL, which is not installed: {INSTALL_HINT}")


def _classes(kind: str) -> tuple[type, type]:
    """TRL's (config class, trainer class) for ``kind``."""
    if kind == "dpo":
        # lazy: TRL is an optional extra ([preference])
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer
    if kind == "kto":
        # lazy: TRL is an optional extra ([preference])
        from trl import KTOConfig, KTOTrainer

        return KTOConfig, KTOTrainer
    with warnings.catch_warnings():  # TRL warns that its experimental module may change
        warnings.simplefilter("ignore")
        # lazy: TRL is an optional extra ([preference])
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer
    return ORPOConfig, ORPOTrainer


def preference_arguments(preference: PreferenceSettings, kwargs: dict[str, Any]) -> TrainingArguments:
    """TRL's ``DPOConfig`` / ``KTOConfig`` / ``ORPOConfig`` from the ``TrainingArguments`` keywords
    a fine-tune would use, plus the preference keys.

    ``kwargs["max_length"]`` (None: no limit) is the token limit of prompt + answer, as
    ``preprocessing.global_max_sequence_length`` (capped by the model's context) sets it for a
    fine-tune; TRL cuts the answer's end (DPO's ``truncation_mode: keep_start``).
    """
    config_class, _ = _classes(preference.kind)
    kwargs = dict(kwargs)
    kwargs.pop("label_names", None)  # TRL's batches have no `labels` column
    # TRL tokenizes the rows itself, so our limits reach it as its max_length (its default, 1024,
    # would otherwise cut rows a fine-tune of the same config keeps, or keep ones it cuts).
    kwargs.update(beta=preference.beta, max_length=kwargs.get("max_length"))
    # TRL's configs turn on bf16 autocast and activation checkpointing by default; here they stay
    # what trainer.use_mixed_precision and enable_gradient_checkpointing say, as for finetune.
    kwargs.setdefault("bf16", False)
    kwargs["gradient_checkpointing"] = False  # TRL's old name; the setting travels as activation_checkpointing
    # Length grouping reads `input_ids`, which TRL's tokenized rows do not have; KTO pairs each row
    # with its batch neighbours for its KL estimate and needs them in a fixed order (the rows are
    # shuffled once, by the run's seed, in preference_dataset instead).
    kwargs["train_sampling_strategy"] = ("sequential" if preference.kind == "kto" or
                                         kwargs.get("train_sampling_strategy") == "sequential" else "random")
    if preference.kind == "dpo":
        kwargs.update(loss_type=[preference.loss_type], label_smoothing=preference.label_smoothing)
    if preference.kind in ("dpo", "kto"):
        # The reference (the base, adapter off) never changes, so a run over the data two or more
        # times scores it once, before training, instead of once per step: a DPO step is then a
        # policy forward and backward only (benchmarks/bench_preference.py). One pass would only
        # move the same work earlier, and a run of train_steps may not see every row at all. Not on
        # several processes: TRL shares the scores through a datasets cache file named by rank 0,
        # and our in-memory datasets put it in each process's own temporary folder.
        kwargs["precompute_ref_log_probs"] = (kwargs.get("max_steps", -1) in (-1, None)
                                              and kwargs.get("num_train_epochs", 1) >= 2
                                              and int(os.environ.get("WORLD_SIZE", "1")) == 1)
    return config_class(**kwargs)


def preference_dataset(split: SplitData, kind: str, seed: int | None = None) -> Dataset:
    """A ``datasets.Dataset`` in TRL's form for ``kind``: prompt/chosen/rejected (DPO, ORPO) or
    prompt/completion/label (KTO; paired rows become one desirable and one undesirable row).

    ``seed`` shuffles KTO's rows once (its trainer reads them in order).
    """
    # lazy: datasets is an optional extra ([preference])
    from datasets import Dataset

    prompts, chosen = list(split.prompts), list(split.targets)
    if kind != "kto":
        if split.rejected is None:
            raise DataError(f"trainer.type: {kind} needs a rejected answer per row (trainer.rejected_column).")
        return Dataset.from_dict({"prompt": prompts, "chosen": chosen, "rejected": list(split.rejected)})
    if split.rejected is not None:
        rows = [(p, c, True) for p, c in zip(prompts, chosen)] + \
               [(p, r, False) for p, r in zip(prompts, split.rejected)]
    else:
        rows = list(zip(prompts, chosen, split.desirable or []))
    if seed is not None:
        random.Random(seed).shuffle(rows)
    return Dataset.from_dict({"prompt": [r[0] for r in rows], "completion": [r[1] for r in rows],
                              "label": [r[2] for r in rows]})


def build_preference_trainer(preference: PreferenceSettings, *, model: torch.nn.Module,
                             args: TrainingArguments, train: SplitData, validation: SplitData | None,
                             tokenizer: PreTrainedTokenizerBase, callbacks: list, seed: int,
                             **ludwig: Any) -> Trainer:
    """TRL's trainer for ``preference.kind`` with llm_magic's optimizer and stop rules mixed in.

    ``ludwig`` are :class:`~.trainer.LudwigTrainerMixin`'s keywords (``settings``,
    ``loraplus_lr_ratio``, ``eval_interval``).
    """
    import logging

    # lazy: datasets is an optional extra ([preference]); imported first, so that its bars are silenced too
    import datasets  # noqa: F401

    silence_library_bars()  # TRL tokenizes with datasets.map, whose bars would leak into the output
    _, trainer_class = _classes(preference.kind)
    combined = type(f"Llm{trainer_class.__name__}", (_BaseReference, LudwigTrainerMixin, trainer_class), {})
    kwargs: dict[str, Any] = dict(
        model=model, args=args, train_dataset=preference_dataset(train, preference.kind, seed),
        eval_dataset=preference_dataset(validation, preference.kind, seed) if validation is not None else None,
        processing_class=tokenizer, callbacks=callbacks, **ludwig,
    )
    # TRL logs each dataset map step and a warning about its own experimental APIs at INFO/WARNING;
    # the run's own output says what happens.
    trl_logger = logging.getLogger("trl")
    level = trl_logger.level
    trl_logger.setLevel(logging.ERROR)
    try:
        trainer = combined(**kwargs)
    finally:
        trl_logger.setLevel(level)
    _drop_reference_adapter(trainer.model)
    limit = getattr(args, "max_length", None)
    if limit is not None and not len(trainer.train_dataset):
        # TRL drops the rows whose prompt alone fills max_length (nothing would be left to score).
        raise DataError(
            f"Every training row's prompt is {limit} tokens or longer, so no row is left to tune on. Raise "
            f"preprocessing.global_max_sequence_length (now {limit}), or shorten the prompt template.")
    return trainer


def _drop_reference_adapter(model: torch.nn.Module) -> None:
    """Remove TRL's frozen copy of the adapter: the reference is then the base, adapter off."""
    peft_config = getattr(model, "peft_config", None)
    if isinstance(peft_config, dict) and "ref" in peft_config:
        active = model.active_adapter
        model.delete_adapter("ref")
        if model.active_adapter != active:
            model.set_adapter(active)


class _BaseReference:
    """Makes the reference the base model (adapter off) before TRL precomputes its log-probs too.

    TRL builds its "ref" adapter in ``__init__`` and, with ``precompute_ref_log_probs``, scores
    the data with it before returning; dropping the adapter here, first, keeps the precomputed
    reference the same one the steps would use (the module docstring's choice).
    """

    def _precompute_ref_logps(self, dataset: Dataset, name: str, batch_size: int) -> Dataset:
        # A private TRL method: TRL offers no public hook between building its "ref" adapter and
        # precomputing the reference log-probs with it, and this is the one place both pass.
        _drop_reference_adapter(self.model)
        return super()._precompute_ref_logps(dataset, name, batch_size)
