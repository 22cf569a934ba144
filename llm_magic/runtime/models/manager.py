"""``ModelManager``: the session's one loaded model, reconciled with each new config.

A new config reloads only what it must:

- only generation / prompt / trainer settings / preprocessing / features changed: nothing (the
  bundle just points at the new config; no torch call, milliseconds);
- the adapter changed (or fine-tuning was switched on or off with an adapter): the adapter is
  removed from the loaded base and the new one attached;
- base_model, quantization, model_parameters, trust_remote_code or is_multimodal changed: the
  old model is freed first (so two models never share memory), then the new one loaded.

Importing this module does not import torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from llm_magic.errors import LlmMagicError

__all__ = ["ModelManager", "ReloadPlan", "plan_reload"]

# Sections whose change means new base weights.
_RELOAD_SECTIONS = (
    "base_model", "quantization", "model_parameters", "trust_remote_code", "is_multimodal",
)
_ADAPTER_SECTIONS = ("adapter", "adapters")

Action = Literal["none", "rewrap", "reload", "load"]


@dataclass(frozen=True)
class ReloadPlan:
    """What reconciling the model with a config does (or did): ``action`` and the changed keys.

    ``action`` is ``"none"`` (nothing reloaded), ``"rewrap"`` (adapter swapped on the loaded
    base), ``"reload"`` (base model freed and loaded again) or ``"load"`` (nothing was loaded).
    """

    action: Action
    changed: tuple[str, ...] = ()
    seconds: float | None = None

    def __str__(self) -> str:
        changed = f" ({', '.join(self.changed)} changed)" if self.changed else ""
        took = f" in {self.seconds:.2f} s" if self.seconds is not None else ""
        return {
            "none": "Model kept as loaded: nothing that affects the weights changed.",
            "rewrap": f"Adapter re-attached to the loaded base model{changed}{took}.",
            "reload": f"Model reloaded{changed}{took}.",
            "load": "No model loaded yet: it loads on first use.",
        }[self.action]

    def __repr__(self) -> str:
        return f"ReloadPlan(action={self.action!r}, changed={self.changed!r})"


def _section(config: Any, name: str) -> Any:
    value = getattr(config, name, None)
    dump = getattr(value, "model_dump", None)
    if name == "quantization" and callable(dump):
        # Whether the compute dtype was set matters, not only its value: on the CPU an unset one
        # loads as float32 (see quantization.compute_dtype_name).
        return dump(), "bnb_4bit_compute_dtype" in value.model_fields_set
    return dump() if callable(dump) else value


def _base_location(base_model: str) -> str:
    """Where ``base_model`` points (presets resolved), so a preset and its hub id compare equal."""
    from llm_magic.runtime.models.source import resolve_source

    try:
        return resolve_source(base_model).location
    except LlmMagicError:
        return base_model


def plan_reload(old: Any, new: Any) -> ReloadPlan:
    """What must happen to a model loaded for config ``old`` to serve config ``new``."""
    if old is None:
        return ReloadPlan("load")
    changed = [
        name for name in _RELOAD_SECTIONS[1:] if _section(old, name) != _section(new, name)
    ]
    if old.base_model != new.base_model and _base_location(old.base_model) != _base_location(
        new.base_model
    ):
        changed.insert(0, "base_model")
    if changed:
        return ReloadPlan("reload", tuple(changed))
    changed = [name for name in _ADAPTER_SECTIONS if _section(old, name) != _section(new, name)]
    from llm_magic.runtime.models.adapters import is_training_config

    has_adapter = getattr(new, "adapter", None) is not None
    if has_adapter and is_training_config(old) != is_training_config(new):
        # Pretrained adapters load frozen for inference and trainable for fine-tuning.
        changed.append("trainer.type")
    if changed:
        return ReloadPlan("rewrap", tuple(changed))
    return ReloadPlan("none")


class ModelManager:
    """Holds at most one :class:`~.loader.LoadedModel` and keeps it in line with the config."""

    def __init__(self) -> None:
        self._loaded: Any = None

    @property
    def loaded(self) -> Any:
        """The current ``LoadedModel``, or None."""
        return self._loaded

    def ensure(self, config: Any) -> Any:
        """The model for ``config``: loaded on first call, reconciled (:meth:`sync`) afterwards."""
        if self._loaded is None:
            from llm_magic.runtime.models.loader import load_model

            self._loaded = load_model(config)
        else:
            self.sync(config)
        return self._loaded

    def plan(self, config: Any) -> ReloadPlan:
        """What :meth:`sync` would do for ``config``, without doing it."""
        return plan_reload(self._loaded.config if self._loaded else None, config)

    def sync(self, config: Any) -> ReloadPlan:
        """Reconcile the loaded model with ``config``, reloading only what changed.

        With no model loaded, nothing happens (it loads on first use). If reloading fails, the
        old model is already gone: the manager is left empty and the error says so.
        """
        plan = self.plan(config)
        if plan.action == "load":
            return plan
        if plan.action == "none":
            self._loaded.config = config
            return plan
        started = time.perf_counter()
        if plan.action == "rewrap":
            self._rewrap(config)
        else:
            self._reload(config)
        return ReloadPlan(plan.action, plan.changed, time.perf_counter() - started)

    def _rewrap(self, config: Any) -> None:
        from llm_magic.runtime.models.adapters import (
            build_peft_config,
            detach_adapter,
            pretrained_adapter_folder,
        )
        from llm_magic.runtime.models.loader import wrap_adapter

        loaded = self._loaded
        adapter, multi = getattr(config, "adapter", None), getattr(config, "adapters", None)
        blocks = [adapter] if adapter is not None else list(multi.adapters.values()) if multi else []
        for block in blocks:
            # Fail on a bad adapter config while the current adapter is still in place.
            if getattr(block, "pretrained_adapter_weights", None):
                pretrained_adapter_folder(block)
            else:
                build_peft_config(block, loaded.candidates)
        loaded.model = detach_adapter(loaded.model)
        loaded.adapter_type = loaded.target_modules = None
        try:
            wrap_adapter(loaded, config)
        except BaseException as exc:
            self.unload()
            if isinstance(exc, LlmMagicError):
                raise LlmMagicError(
                    f"{exc}\n(The model was unloaded; it reloads for the previous config on next use.)"
                ) from None
            raise

    def _reload(self, config: Any) -> None:
        from llm_magic.runtime.models.loader import load_model, precheck

        # Cheap checks first, so an obviously bad config keeps the current model.
        precheck(config)
        self.unload()
        try:
            self._loaded = load_model(config)
        except LlmMagicError as exc:
            raise LlmMagicError(
                f"{exc}\n(The previous model was unloaded first to free memory; it reloads for the "
                "previous config on next use.)"
            ) from None

    def unload(self) -> None:
        """Free the loaded model (CPU and GPU memory); a no-op when nothing is loaded."""
        from llm_magic.runtime.models.loader import free_model

        loaded, self._loaded = self._loaded, None
        free_model(loaded)

    def info(self) -> Any:
        """A :class:`~.info.ModelInfo` for the loaded model."""
        if self._loaded is None:
            raise LlmMagicError("No model is loaded. Run %llm_info after a %%llm_config cell.")
        from llm_magic.runtime.models.info import model_info

        return model_info(self._loaded)
