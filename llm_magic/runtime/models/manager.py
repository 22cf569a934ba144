"""``ModelManager``: the session's one loaded model, reconciled with each new config.

A new config reloads only what it must:

- only generation / prompt / trainer settings / preprocessing / features changed: nothing (the
  bundle just points at the new config; no torch call, milliseconds);
- the adapter changed (or fine-tuning was switched on or off with an adapter): the adapter is
  removed from the loaded base and the new one attached;
- base_model, quantization, model_parameters, trust_remote_code or is_multimodal changed: the
  old model is freed first (so two models never share memory), then the new one loaded; if
  that fails or is interrupted, the old one is loaded again with its adapter weights put back.

Importing this module does not import torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from llm_magic.errors import DeviceError, LlmMagicError
from llm_magic.runtime.interrupts import deferred_interrupts
from llm_magic.runtime.models.adapters import (
    build_peft_config,
    detach_adapter,
    is_training_config,
    pretrained_adapter_folder,
)
from llm_magic.runtime.models.info import model_info
from llm_magic.runtime.models.source import resolve_source

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.models.info import ModelInfo
    from llm_magic.runtime.models.loader import LoadedModel

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
    #: The folder holding the trained weights this change replaced (``%llm_load`` it to get them back).
    kept: str | None = None

    @property
    def kept_message(self) -> str | None:
        """What to tell the user about replaced trained weights, or None."""
        if not self.kept:
            return None
        return (f"The trained weights this change replaced are kept in {self.kept}: "
                f"%llm_load {self.kept} brings them back.")

    def __str__(self) -> str:
        changed = f" ({', '.join(self.changed)} changed)" if self.changed else ""
        took = f" in {self.seconds:.2f} s" if self.seconds is not None else ""
        if self.kept:
            return self._text(changed, took) + " " + self.kept_message
        return self._text(changed, took)

    def _text(self, changed: str, took: str) -> str:
        return {
            "none": "Model kept as loaded: nothing that affects the weights changed.",
            "rewrap": f"Adapter re-attached to the loaded base model{changed}{took}.",
            "reload": f"Model reloaded{changed}{took}.",
            "load": "No model loaded yet: it loads on first use.",
        }[self.action]

    def __repr__(self) -> str:
        return f"ReloadPlan(action={self.action!r}, changed={self.changed!r})"


def _section(config: LLMConfig, name: str) -> object:
    value = getattr(config, name, None)
    dump = getattr(value, "model_dump", None)
    if name == "quantization" and callable(dump):
        # Whether the compute dtype was set matters, not only its value: on the CPU an unset one
        # loads as float32 (see quantization.compute_dtype_name).
        return dump(), "bnb_4bit_compute_dtype" in value.model_fields_set
    return dump() if callable(dump) else value


def _base_location(base_model: str) -> str:
    """Where ``base_model`` points (presets resolved), so a preset and its hub id compare equal."""
    try:
        return resolve_source(base_model).location
    except LlmMagicError:
        return base_model


def plan_reload(old: LLMConfig | None, new: LLMConfig) -> ReloadPlan:
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
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel | None:
        """The current ``LoadedModel``, or None."""
        return self._loaded

    def ensure(self, config: LLMConfig) -> LoadedModel:
        """The model for ``config``: loaded on first call, reconciled (:meth:`sync`) afterwards."""
        if self._loaded is None:
            # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
            from llm_magic.runtime.models.loader import load_model

            self._loaded = load_model(config)
        else:
            self.sync(config)
        return self._loaded

    def plan(self, config: LLMConfig) -> ReloadPlan:
        """What :meth:`sync` would do for ``config``, without doing it."""
        return plan_reload(self._loaded.config if self._loaded else None, config)

    def sync(self, config: LLMConfig) -> ReloadPlan:
        """Reconcile the loaded model with ``config``, reloading only what changed.

        With no model loaded, nothing happens (it loads on first use). All or nothing: a new
        base is loaded beside the current one and swapped in only once it loaded (the old one is
        freed after; two models are in memory meanwhile); a new adapter is attached after taking
        a copy of the current adapter's weights, which are put back if attaching fails or is
        interrupted. So on any error or Ctrl-C the loaded model is the one before, same bytes.
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

    def check(self, config: LLMConfig) -> None:
        """The checks :meth:`sync` makes before it touches the loaded model (no weights read)."""
        plan = self.plan(config)
        if plan.action == "reload":
            # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
            from llm_magic.runtime.models.loader import precheck

            precheck(config)
        elif plan.action == "rewrap":
            adapter, multi = config.adapter, config.adapters
            blocks = [adapter] if adapter is not None else list(multi.adapters.values()) if multi else []
            for block in blocks:
                # Fail on a bad adapter config while the current adapter is still in place.
                if getattr(block, "pretrained_adapter_weights", None):
                    pretrained_adapter_folder(block)
                else:
                    build_peft_config(block, self._loaded.candidates)

    def _rewrap(self, config: LLMConfig) -> None:
        # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
        from llm_magic.runtime.models.loader import wrap_adapter

        loaded = self._loaded
        self.check(config)
        before = _AdapterSnapshot.take(loaded)
        try:
            loaded.model = detach_adapter(loaded.model)
            loaded.adapter_type = loaded.target_modules = None
            wrap_adapter(loaded, config)
        except BaseException as exc:
            # Put the previous adapter back, its weights byte for byte, before anything else:
            # a second Ctrl-C must not land in the middle of it.
            with deferred_interrupts():
                before.restore(loaded)
            if isinstance(exc, LlmMagicError):
                raise exc.with_note("(The previous adapter and its weights are kept.)") from None
            if _out_of_memory(exc):
                raise DeviceError(
                    f"The new adapter does not fit in memory ({type(exc).__name__}: {exc}). Lower "
                    "adapter.r (or the number of target_modules). The previous adapter and its "
                    "weights are kept."
                ) from None
            raise
        # The new adapter starts from fresh weights: nothing trained is in them yet.
        loaded.trained_by = loaded.kept_in = None

    def _reload(self, config: LLMConfig) -> None:
        # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
        from llm_magic.runtime.models.loader import load_model, precheck

        # Cheap checks first, so an obviously bad config fails fast.
        precheck(config)
        old = self._loaded
        if old.trained_by and not getattr(old.model, "peft_config", None):
            # Fully fine-tuned weights exist nowhere else in memory: load the new model beside
            # them (twice the memory for a moment) rather than risk them.
            new = load_model(config)
            with deferred_interrupts():
                self._loaded = new
            free_model_quietly(old)
            return
        # Otherwise the old model is freed first, so two models never share memory: its base
        # reloads from where it came from, and its adapter weights (small) are copied here.
        before = _AdapterSnapshot.take(old)
        del old
        self.unload()
        try:
            self._loaded = load_model(config)
        except BaseException as exc:
            with deferred_interrupts():
                self._loaded = before.rebuild()
            if isinstance(exc, LlmMagicError):
                raise exc.with_note("(The previous model and its adapter weights are kept.)") from None
            if _out_of_memory(exc):
                raise DeviceError(
                    f"The model for the new config does not fit in memory ({type(exc).__name__}: "
                    f"{exc}). The previous model and its adapter weights are kept."
                ) from None
            raise

    def unload(self) -> None:
        """Free the loaded model (CPU and GPU memory); a no-op when nothing is loaded."""
        # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
        from llm_magic.runtime.models.loader import free_model

        with deferred_interrupts():
            loaded, self._loaded = self._loaded, None
        free_model(loaded)


    def info(self) -> ModelInfo:
        """A :class:`~.info.ModelInfo` for the loaded model."""
        if self._loaded is None:
            raise LlmMagicError("No model is loaded. Run %llm_info after a %%llm_config cell.")

        return model_info(self._loaded)


def free_model_quietly(loaded: LoadedModel) -> None:
    """Free a replaced bundle; never fails the command that already succeeded."""
    # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
    from llm_magic.runtime.models.loader import free_model

    try:
        free_model(loaded)
    except Exception:  # noqa: BLE001 - the new model is in place; a failed free only costs memory
        pass


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (CPU or GPU), not a bug."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("alloc" in text or "out of memory" in text)


class _AdapterSnapshot:
    """The adapter part of a bundle, kept so that a failed re-wrap can put it back exactly."""

    def __init__(self, config: LLMConfig, adapter_type: str | None, targets: list[str] | None,
                 weights: dict[str, dict[str, torch.Tensor]], trained_by: str | None, kept_in: str | None) -> None:
        self.config, self.adapter_type, self.targets = config, adapter_type, targets
        self.weights, self.trained_by, self.kept_in = weights, trained_by, kept_in

    @classmethod
    def take(cls, loaded: LoadedModel) -> "_AdapterSnapshot":
        """Copy the adapter's weights (every adapter of a PEFT model) off the model."""
        weights: dict[str, dict[str, torch.Tensor]] = {}
        peft_config = getattr(loaded.model, "peft_config", None)
        if peft_config:
            # lazy: pulls peft (and torch); %load_ext stays light
            from peft import get_peft_model_state_dict

            for name in peft_config:
                state = get_peft_model_state_dict(loaded.model, adapter_name=name)
                weights[name] = {key: value.detach().clone() for key, value in state.items()}
        return cls(loaded.config, loaded.adapter_type, loaded.target_modules, weights,
                   loaded.trained_by, loaded.kept_in)

    def rebuild(self) -> LoadedModel:
        """Load the old config's model again and put the copied adapter weights back."""
        # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
        from llm_magic.runtime.models.loader import load_model

        loaded = load_model(self.config)
        try:
            self._put_back(loaded)
        except BaseException:
            # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
            from llm_magic.runtime.models.loader import free_model

            free_model(loaded)
            raise
        return loaded

    def _put_back(self, loaded: LoadedModel) -> None:
        if self.weights:
            # lazy: pulls peft (and torch); %load_ext stays light
            from peft import set_peft_model_state_dict

            for name, state in self.weights.items():
                set_peft_model_state_dict(loaded.model, state, adapter_name=name)
        loaded.adapter_type, loaded.target_modules = self.adapter_type, self.targets
        loaded.trained_by, loaded.kept_in = self.trained_by, self.kept_in

    def restore(self, loaded: LoadedModel) -> None:
        """Re-attach the old adapter to the bare base and load the copied weights into it."""
        # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
        from llm_magic.runtime.models.loader import wrap_adapter

        loaded.model = detach_adapter(loaded.model)
        wrap_adapter(loaded, self.config)
        self._put_back(loaded)
