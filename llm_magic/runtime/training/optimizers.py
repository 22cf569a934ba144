"""Ludwig ``trainer.optimizer.type`` names mapped to torch, bitsandbytes and transformers optimizers.

:func:`build_optimizer` instantiates the optimizer for the trainable parameters, passing on only
the ``optimizer:`` fields the class accepts (Ludwig's field names match torch's). With
``adapter.loraplus_lr_ratio`` set it builds LoRA+ parameter groups through PEFT's
``create_loraplus_optimizer`` (B matrices learn ``ratio`` times faster) instead of by hand.
"""
from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.config.schema.trainer import MOMENTUM_REQUIRED, OPTIMIZER_FIELDS

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from torch.optim import Optimizer

__all__ = ["MOMENTUM_REQUIRED", "OPTIMIZERS", "OPTIMIZER_FIELDS", "UNSUPPORTED", "build_optimizer",
           "optimizer_class"]

#: Ludwig optimizer type -> "module:Class".
OPTIMIZERS: dict[str, str] = {
    "sgd": "torch.optim:SGD",
    "adam": "torch.optim:Adam",
    "adamw": "torch.optim:AdamW",
    "adadelta": "torch.optim:Adadelta",
    "adagrad": "torch.optim:Adagrad",
    "adamax": "torch.optim:Adamax",
    "nadam": "torch.optim:NAdam",
    "rmsprop": "torch.optim:RMSprop",
    "radam": "torch.optim:RAdam",
    "adafactor": "transformers.optimization:Adafactor",
    "lion": "bitsandbytes.optim:Lion",
    "lamb": "bitsandbytes.optim:LAMB",
    "lars": "bitsandbytes.optim:LARS",
    "sgd_8bit": "bitsandbytes.optim:SGD8bit",
    "adam_8bit": "bitsandbytes.optim:Adam8bit",
    "adamw_8bit": "bitsandbytes.optim:AdamW8bit",
    "adagrad_8bit": "bitsandbytes.optim:Adagrad8bit",
    "rmsprop_8bit": "bitsandbytes.optim:RMSprop8bit",
    "lamb_8bit": "bitsandbytes.optim:LAMB8bit",
    "lars_8bit": "bitsandbytes.optim:LARS8bit",
    "lion_8bit": "bitsandbytes.optim:Lion8bit",
    "paged_adam": "bitsandbytes.optim:PagedAdam",
    "paged_adam_8bit": "bitsandbytes.optim:PagedAdam8bit",
    "paged_adamw": "bitsandbytes.optim:PagedAdamW",
    "paged_adamw_8bit": "bitsandbytes.optim:PagedAdamW8bit",
    "paged_lion": "bitsandbytes.optim:PagedLion",
    "paged_lion_8bit": "bitsandbytes.optim:PagedLion8bit",
    "schedule_free_adamw": "schedulefree:AdamWScheduleFree",
}

# Which optimizer fields apply is part of the config language: the table lives with the schema.

#: Ludwig optimizer types we refuse, with the reason shown to the user.
UNSUPPORTED: dict[str, str] = {
    "lbfgs": "L-BFGS needs a closure that re-evaluates the loss, which the HF Trainer loop does not provide",
    "muon": "Muon only updates 2-D weight matrices and needs a second optimizer for the rest",
    "soap": "no maintained SOAP implementation is installed",
}

# Ludwig spells Adafactor's switches as torch does; Adafactor with an explicit learning rate must
# turn its relative step size off or it ignores the lr.
_ADAFACTOR_DEFAULTS = {"scale_parameter": False, "relative_step": False, "warmup_init": False}


def optimizer_class(kind: str) -> type:
    """The optimizer class for a Ludwig optimizer type (raises ``LlmMagicError`` if unusable)."""
    kind = (kind or "adam").lower()
    if kind in UNSUPPORTED:
        raise LlmMagicError(
            f"trainer.optimizer.type: {kind!r} is not supported: {UNSUPPORTED[kind]}. "
            "Use adamw (or paged_adamw_8bit to save memory)."
        )
    if kind not in OPTIMIZERS:
        known = ", ".join(sorted(OPTIMIZERS))
        raise LlmMagicError(f"trainer.optimizer.type: unknown optimizer {kind!r}. Known: {known}.")
    module_name, class_name = OPTIMIZERS[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        package = module_name.split(".")[0]
        raise LlmMagicError(
            f"trainer.optimizer.type: {kind!r} needs the {package!r} package. "
            f"Install it (pip install {package}) or pick adamw."
        ) from None
    return getattr(module, class_name)


def _accepted_kwargs(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The ``optimizer:`` fields ``cls`` accepts (tuples where torch wants them)."""
    params = inspect.signature(cls.__init__).parameters
    kwargs = {}
    for key, value in options.items():
        if key in ("type", "lr", "params") or key not in params or value is None:
            continue
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    return kwargs


def build_optimizer(model: torch.nn.Module, optimizer: dict[str, Any], learning_rate: float,
                    loraplus_lr_ratio: float | None = None) -> Optimizer:
    """Create the optimizer for ``model``'s trainable parameters from the ``optimizer:`` block."""
    cls = optimizer_class(optimizer.get("type", "adam"))
    kwargs = _accepted_kwargs(cls, optimizer)
    if cls.__name__ == "Adafactor":
        # Adafactor's eps is a pair (eps1, eps2); a single Adam-style eps does not apply.
        if not isinstance(kwargs.get("eps"), tuple):
            kwargs.pop("eps", None)
        kwargs = {**_ADAFACTOR_DEFAULTS, **kwargs}
    if loraplus_lr_ratio:
        # lazy: peft only for LoRA+ (a full fine-tune never imports it)
        from peft import PeftModel
        from peft.optimizers import create_loraplus_optimizer

        if not isinstance(model, PeftModel):
            raise LlmMagicError(
                "adapter.loraplus_lr_ratio is set but the model has no LoRA adapter. "
                "Add adapter: {type: lora} or remove loraplus_lr_ratio."
            )
        return create_loraplus_optimizer(
            model, cls, lr=learning_rate, loraplus_lr_ratio=float(loraplus_lr_ratio), **kwargs
        )
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise LlmMagicError(
            "Nothing to train: every parameter is frozen. Check trainer.layers_to_freeze_regex "
            "and the adapter's target_modules."
        )
    return cls(params, lr=learning_rate, **kwargs)
