"""The Hugging Face ``Trainer`` with Ludwig's optimizer, schedule and regularization plugged in.

HF owns the loop (accumulation, clipping, evaluation, checkpoints, resume, best-model reload);
this subclass only swaps in what ``trainer:`` asks for where HF has no argument for it.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from transformers import Trainer

from llm_magic.runtime.training import loss as loss_module
from llm_magic.runtime.training.optimizers import build_optimizer
from llm_magic.runtime.training.schedulers import build_scheduler
from llm_magic.runtime.training.settings import TrainerSettings

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch

__all__ = ["LlmTrainer", "LudwigTrainerMixin"]


class LudwigTrainerMixin:
    """What ``trainer:`` changes in any HF ``Trainer`` (ours and TRL's preference trainers): the
    ``trainer.optimizer`` optimizer and the ``trainer.learning_rate_scheduler`` schedule."""

    def __init__(self, *args: Any, settings: TrainerSettings, loraplus_lr_ratio: float | None = None,
                 eval_interval: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.loraplus_lr_ratio = loraplus_lr_ratio
        self.eval_interval = eval_interval

    def create_optimizer(self, model=None):
        """Build the ``trainer.optimizer`` optimizer (LoRA+ groups when configured)."""
        if self.optimizer is None:
            self.optimizer = build_optimizer(
                model if model is not None else self.model, self.settings.optimizer,
                self.settings.learning_rate, self.loraplus_lr_ratio,
            )
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """Build the ``trainer.learning_rate_scheduler`` schedule over ``num_training_steps``."""
        if self.lr_scheduler is None:
            self.lr_scheduler = build_scheduler(
                optimizer or self.optimizer, self.settings.scheduler, self.settings.learning_rate,
                num_training_steps, self.eval_interval,
            )
            # HF's own create_scheduler sets this private flag so that a rerun of the loop
            # (auto_find_batch_size) builds the schedule anew for its step count; no public API
            # does that, so a scheduler made here has to set it the same way.
            self._created_lr_scheduler = True
        return self.lr_scheduler


class LlmTrainer(LudwigTrainerMixin, Trainer):
    """``Trainer`` for ``finetune``: Ludwig's optimizer and schedule (:class:`LudwigTrainerMixin`),
    L1/L2 regularization, perplexity, the loss at label positions only and padding-free batches."""

    #: Compute the LM head and loss only at label positions (``training.loss``); False runs the
    #: model's own forward (all logits), e.g. to compare the two.
    label_only_loss: bool = True

    def __init__(self, *args: Any, train_collator: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Collates training batches when set (padding-free batches, ``training.packing``);
        #: evaluation keeps ``data_collator``, whose padded batches its metrics expect.
        self.train_collator = train_collator

    def get_train_dataloader(self):
        """HF's training DataLoader, collated by ``train_collator`` when one is set."""
        if self.train_collator is None:
            return super().get_train_dataloader()
        padded, self.data_collator = self.data_collator, self.train_collator
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = padded

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's loss plus Ludwig's ``regularization_lambda`` penalty on trainable weights.

        The loss is computed at label positions only (:func:`..loss.label_only_loss`) where that
        is the model's own loss exactly; otherwise HF's ``compute_loss`` runs the full forward.
        """
        result = None
        if self._can_use_label_only_loss(model, return_outputs):
            # As HF: the count of label tokens reaches the loss only when the model takes it (its
            # loss is then a sum over that count, and training_step does not rescale it).
            result = loss_module.label_only_loss(model, inputs,
                                                 num_items_in_batch if self.model_accepts_loss_kwargs else None)
        if result is None:
            result = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                          num_items_in_batch=num_items_in_batch)
        lam = self.settings.regularization_lambda
        kind = self.settings.regularization_type
        if not lam or not kind or not model.training:
            return result
        loss, outputs = result if return_outputs else (result, None)
        params = [p for p in model.parameters() if p.requires_grad]
        penalty = 0.0
        if kind in ("l1", "l1_l2"):
            penalty = penalty + sum(p.abs().sum() for p in params)
        if kind in ("l2", "l1_l2"):
            penalty = penalty + sum(p.pow(2).sum() for p in params)
        loss = loss + lam * penalty
        return (loss, outputs) if return_outputs else loss

    def _can_use_label_only_loss(self, model: torch.nn.Module, return_outputs: bool) -> bool:
        # Not when the caller needs the logits (metrics), when HF would change the loss (label
        # smoothing, a custom loss) or when the model is wrapped (DDP syncs gradients in its own
        # forward, which calling the decoder directly would bypass).
        return (self.label_only_loss and not return_outputs and self.label_smoother is None
                and self.compute_loss_func is None and self.accelerator.num_processes == 1
                and self.accelerator.unwrap_model(model) is model)

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix: str = "eval"):
        """HF's loop, plus ``<prefix>_perplexity`` (= exp(loss)) so it can select checkpoints."""
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys,
                                         metric_key_prefix)
        prefix = metric_key_prefix
        loss = output.metrics.get(f"{prefix}_loss")
        if loss is not None:
            ppl = math.exp(loss) if loss < 700 else math.inf
            output.metrics[f"{prefix}_perplexity"] = ppl
            output.metrics[f"{prefix}_next_token_perplexity"] = ppl
        return output
