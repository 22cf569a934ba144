"""What every adapter kind shares, and the registry that maps ``type`` to its config class.

Each kind is one small class (PEFT's layout: one config per method) that knows its fields and how
to become the real ``peft`` config object. ``to_peft_config`` imports peft lazily, so validating
a config never imports torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.config.schema.base import F, ConfigModel

if TYPE_CHECKING:  # pragma: no cover - types only
    from peft import PeftConfig

#: type name -> config class, in registration order (Ludwig's 15 kinds, then prompt learning).
ADAPTER_TYPES: dict[str, type["AdapterBase"]] = {}


def register(cls: type["AdapterBase"]) -> type["AdapterBase"]:
    """Class decorator: add an adapter kind to :data:`ADAPTER_TYPES` under its ``type`` default."""
    ADAPTER_TYPES[cls.model_fields["type"].default] = cls
    return cls


class Postprocessor(ConfigModel):
    """What to do with the adapter after training."""

    merge_adapter_into_base_model: bool = F(
        False, "After training, merge the adapter into the base weights (LoRA-family adapters only).")
    progressbar: bool = F(False, "Show a progress bar while merging.")


class AdapterBase(ConfigModel):
    """Fields common to every adapter kind."""

    #: Name of the PEFT config class this kind becomes (looked up on the installed peft).
    peft_class: ClassVar[str] = ""
    #: Ludwig field name -> PEFT field name, where they differ.
    peft_renames: ClassVar[dict[str, str]] = {}
    #: Fields that are ours/Ludwig's only and never reach PEFT.
    not_for_peft: ClassVar[frozenset[str]] = frozenset()
    #: Whether PEFT can merge this kind into the base weights (merge_and_unload).
    can_merge: ClassVar[bool] = False

    type: str = F(..., "Adapter kind.")
    pretrained_adapter_weights: str | None = F(
        None, "Hub id or local directory of trained adapter weights to start from.",
        diverges="Ludwig accepts only Hub ids (it downloads adapter_config.json); we also accept a local "
                  "directory.")
    postprocessor: Postprocessor = F(default_factory=Postprocessor, help="Post-training actions.")

    def peft_kwargs(self, target_modules: list[str] | None) -> dict[str, Any]:
        """The keyword arguments for the PEFT config class (Ludwig names mapped to PEFT's)."""
        skip = {"type", "pretrained_adapter_weights", "postprocessor", *self.not_for_peft}
        kwargs: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name in skip:
                continue
            kwargs[self.peft_renames.get(name, name)] = getattr(self, name)
        if "target_modules" in type(self).model_fields and target_modules is not None:
            kwargs["target_modules"] = list(target_modules)
        return kwargs

    def to_peft_config(self, target_modules: list[str] | None = None) -> PeftConfig:
        """Build the real ``peft`` config (task type CAUSAL_LM).

        ``target_modules`` overrides the configured ones (the model manager passes the modules it
        resolved for the loaded architecture). Raises :class:`LlmMagicError` when the installed
        PEFT lacks this adapter kind.
        """
        # lazy: peft (and torch) load on first use (importing llm_magic stays cheap)
        import peft

        cls = getattr(peft, self.peft_class, None)
        if cls is None:
            raise LlmMagicError(
                f"adapter.type: {self.type} needs peft.{self.peft_class}, which the installed PEFT "
                f"{peft.__version__} does not have. Upgrade PEFT (pip install -U peft) or pick another "
                "adapter type, e.g. lora.")
        kwargs = self.peft_kwargs(target_modules)
        return cls(task_type=peft.TaskType.CAUSAL_LM, **kwargs)
