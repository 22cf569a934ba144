"""Wrapping a loaded base model in the configured PEFT adapter, and unwrapping it again.

Every adapter type the config accepts is built by PEFT from the config's own
``adapter.to_peft_config(target_modules)``; we only supply target modules when the config leaves
them unset (see :mod:`.targets`). Pretrained adapter weights come from a local folder or a hub
repo, safetensors only, and are trainable when the config fine-tunes.
"""
from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from llm_magic.errors import LlmMagicError, ModelLoadError
from llm_magic.runtime.config.schema.trainer import TRAINING_TRAINERS
from llm_magic.runtime.models.source import ModelSource, explain_load_error, hub_token

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from peft import PeftConfig
    from transformers import PreTrainedModel

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.config.schema.adapters import Adapter as AdapterConfig
    from llm_magic.runtime.config.schema.adapters import MultiAdapterConfig
    from llm_magic.runtime.models.targets import TargetCandidates

__all__ = [
    "adapter_label", "attach_adapter", "build_peft_config", "detach_adapter",
    "is_training_config", "pretrained_adapter_folder", "resolve_adapter_targets",
]

_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def is_training_config(config: LLMConfig) -> bool:
    """Whether ``config`` trains (``trainer.type: finetune`` or a preference trainer), so adapters must be trainable."""
    return config.trainer.type in TRAINING_TRAINERS


def resolve_adapter_targets(adapter: AdapterConfig, candidates: TargetCandidates | None) -> list[str] | None:
    """The configured ``target_modules``, or the ones found in the base for ``adapter.type``."""
    # lazy: pulls torch and transformers; %load_ext and plan_reload stay light
    from llm_magic.runtime.models.targets import default_target_modules

    configured = getattr(adapter, "target_modules", None)
    if configured:
        _check_configured_targets(list(configured), candidates)
        return list(configured)
    return default_target_modules(candidates, adapter.type)


def _check_configured_targets(targets: list[str], candidates: TargetCandidates | None) -> None:
    """Configured plain module names must exist in the model (PEFT would fail later, vaguer)."""
    plain = [t for t in targets if t.replace("_", "").replace(".", "").isalnum()]
    known = getattr(candidates, "all_names", None)
    if not known or len(plain) != len(targets):  # regexes and dotted paths: PEFT decides
        return
    if not any(t.rsplit(".", 1)[-1] in known for t in plain):
        layers = ", ".join(candidates.projections) or "none found"
        raise LlmMagicError(
            f"adapter.target_modules: none of {targets} is a module of this model. Its "
            f"attention/MLP layers are: {layers}. Fix the names or remove target_modules to adapt "
            "all of them."
        )


def build_peft_config(adapter: AdapterConfig, candidates: TargetCandidates | None) -> tuple[PeftConfig,
                      list[str] | None]:
    """``(peft_config, target_modules)`` for ``adapter``: cheap, touches no weights.

    Used to check an adapter change before the current adapter is removed.
    """
    targets = resolve_adapter_targets(adapter, candidates)
    try:
        return adapter.to_peft_config(targets), targets
    except ValueError as exc:  # PEFT config classes validate their arguments this way
        raise _peft_error(exc, adapter, targets) from None


def adapter_label(config: LLMConfig) -> str | None:
    """The adapter type to show (``"lora"``; ``"lora (active: b)"`` for ``adapters:``), or None."""
    if config.adapter is not None:
        return config.adapter.type
    multi = config.adapters
    if multi is None:
        return None
    active = multi.active_name
    block = multi.adapters.get(active)
    kind = block.type if block is not None else next(iter(multi.adapters.values())).type
    return f"{kind} (active: {active})"


def attach_adapter(
    base: PreTrainedModel, config: LLMConfig, quantized: bool, candidates: TargetCandidates | None
) -> tuple[torch.nn.Module, list[str] | None]:
    """Wrap ``base`` in ``config.adapter`` (or every ``config.adapters`` entry); return
    ``(model, target_modules)``.

    ``candidates`` are the base's adaptable module names (:func:`.targets.find_candidates`).
    With no adapter, returns ``base`` unchanged (full fine-tuning: every weight trainable unless
    quantized). Quantized bases are prepared for k-bit training first (PEFT's helper: freezes the
    base, upcasts norms; gradient checkpointing stays the trainer's decision).
    """
    adapter, multi = config.adapter, config.adapters
    if adapter is None and multi is None:
        if not quantized:
            for param in base.parameters():
                param.requires_grad_(True)
        return base, None
    # lazy: pulls peft (and torch); %load_ext stays light
    from peft import prepare_model_for_kbit_training

    training = is_training_config(config)
    if quantized and training:
        prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    blocks = {"default": adapter} if adapter is not None else dict(multi.adapters)
    model, first_targets = None, None
    for name, block in blocks.items():
        model, targets = _add_adapter(model, base, name, block, candidates, training)
        first_targets = first_targets or targets
    if multi is not None:
        _merge_and_activate(model, multi)
    return model, first_targets


def _add_adapter(model, base, name, block, candidates, training):
    """Add adapter ``name`` (config ``block``) to ``model``, or wrap ``base`` when model is None."""
    # lazy: pulls peft (and torch); %load_ext stays light
    from peft import PeftModel, get_peft_model

    weights = getattr(block, "pretrained_adapter_weights", None)
    if weights:
        folder = str(pretrained_adapter_folder(block))
        with _peft_errors(block, None, weights), _no_checkpointing_deprecation():
            if model is None:
                model = PeftModel.from_pretrained(
                    base, folder, adapter_name=name, is_trainable=training
                )
            else:
                model.load_adapter(folder, adapter_name=name, is_trainable=training)
        return model, None
    peft_config, targets = build_peft_config(block, candidates)
    with _peft_errors(block, targets), _no_checkpointing_deprecation():
        if model is None:
            return get_peft_model(base, peft_config, adapter_name=name), targets
        model.add_adapter(name, peft_config)
    return model, targets


@contextlib.contextmanager
def _no_checkpointing_deprecation():
    """Silence the one FutureWarning PEFT triggers whenever it wraps a model.

    ``PeftModel.__init__`` (peft 0.21) reads ``model.is_gradient_checkpointing``, which
    transformers 5 deprecated in favour of ``is_activation_checkpointing``; the user can do
    nothing about it, so exactly that message is ignored here, and only while PEFT wraps.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


def _merge_and_activate(model: torch.nn.Module, multi: MultiAdapterConfig) -> None:
    """Apply ``adapters.merge`` (PEFT ``add_weighted_adapter``) and activate ``adapters.active``."""
    merge = getattr(multi, "merge", None)
    if merge is not None:
        weights = merge.weights or [1.0] * len(merge.sources)
        kwargs = {"density": merge.density} if merge.density is not None else {}
        try:
            model.add_weighted_adapter(
                adapters=list(merge.sources), weights=list(weights), adapter_name=merge.name,
                combination_type=merge.combination_type, **kwargs,
            )
        except (ValueError, AttributeError) as exc:
            raise LlmMagicError(
                f"adapters.merge: PEFT could not merge {merge.sources} ({merge.combination_type}): "
                f"{exc}. Weighted merges need LoRA adapters of the same kind (svd for differing ranks)."
            ) from None
    model.set_adapter(multi.active_name)


class _peft_errors:
    """Turn PEFT's complaints about settings that do not fit the model into user errors."""

    def __init__(self, adapter: AdapterConfig, targets: list[str] | None, weights: str | None = None):
        self.adapter, self.targets, self.weights = adapter, targets, weights

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            return False
        if self.weights and isinstance(exc, (ValueError, RuntimeError, KeyError)):
            raise ModelLoadError(
                f"adapter.pretrained_adapter_weights: {self.weights!r} does not fit this base "
                f"model: {exc}. Use adapter weights trained on the same base_model."
            ) from None
        if isinstance(exc, ValueError):  # PEFT's way of saying the settings do not fit
            raise _peft_error(exc, self.adapter, self.targets) from None
        if isinstance(exc, TypeError) and "not supported" in str(exc):
            # PEFT raises TypeError for layers an adapter type cannot wrap (e.g. LoHa on GPT-2's
            # Conv1D); any other TypeError is a genuine bug and propagates.
            raise LlmMagicError(
                f"adapter.type: {self.adapter.type} cannot wrap this model's layers "
                f"({', '.join(self.targets or [])}): {exc}. Pick an adapter type that supports "
                "them (lora, adalora, ia3, vera and fourierft handle GPT-2-style Conv1D layers), "
                "or set adapter.target_modules."
            ) from None
        return False


def detach_adapter(model: torch.nn.Module) -> torch.nn.Module:
    """The base model under ``model``, with every adapter layer removed (not merged).

    A model without an adapter is returned as is.
    """
    # lazy: pulls peft (and torch); %load_ext stays light
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        return model
    # Prompt-learning adapters (prompt tuning, ...) inject no layers: the base is intact.
    if model.active_peft_config.is_prompt_learning:
        base = model.get_base_model()
    else:
        base = model.base_model.unload()
    # PEFT leaves its config on the transformers model; a stale one confuses the next wrap.
    if hasattr(base, "peft_config"):
        del base.peft_config
    return base


def pretrained_adapter_folder(adapter: AdapterConfig) -> Path:
    """The local folder of ``adapter.pretrained_adapter_weights``, checked before any weight loads.

    Hub repos are downloaded (config and safetensors only). The folder's adapter kind must be
    the configured ``adapter.type``.
    """
    weights = adapter.pretrained_adapter_weights
    folder = _local_adapter_folder(weights)
    try:
        saved = json.loads((folder / "adapter_config.json").read_text()).get("peft_type")
    except (OSError, ValueError, AttributeError):
        saved = None
    if not isinstance(saved, str):
        raise ModelLoadError(
            f"adapter.pretrained_adapter_weights: {weights!r} has an unreadable "
            "adapter_config.json (no peft_type); re-save the adapter with save_pretrained."
        )
    if saved.lower() != adapter.type:
        raise ModelLoadError(
            f"adapter.type: {adapter.type}, but {weights!r} holds a {saved.lower()} adapter. Set "
            f"adapter.type: {saved.lower()} to use it."
        )
    return folder


def _local_adapter_folder(weights: str) -> Path:
    """A folder holding the adapter's config and safetensors weights (downloading hub repos)."""
    folder = Path(os.path.expanduser(weights))
    if not folder.is_dir():
        if weights.startswith((".", "/", "~")) or weights.count("/") > 1:
            raise ModelLoadError(
                f"adapter.pretrained_adapter_weights: {weights!r} is not an existing folder (and not "
                "a hub id of the form 'owner/name')."
            )
        # lazy: pulls huggingface_hub; %load_ext stays light
        from huggingface_hub import snapshot_download

        try:
            folder = Path(
                snapshot_download(weights, allow_patterns=list(_ADAPTER_FILES), token=hub_token())
            )
        except Exception as exc:  # noqa: BLE001 - translated when recognised, re-raised otherwise
            error = explain_load_error(exc, ModelSource(weights, weights, is_local=False))
            if error is None:
                raise
            raise type(error)(
                str(error).replace("base_model:", "adapter.pretrained_adapter_weights:", 1)
            ) from None
    missing = [name for name in _ADAPTER_FILES if not (folder / name).is_file()]
    if missing:
        pickle_hint = (
            " It holds adapter_model.bin: llm_magic loads safetensors only, because pickles can run "
            "code; re-save it with model.save_pretrained(folder) (safetensors is the default)."
            if (folder / "adapter_model.bin").is_file()
            else ""
        )
        raise ModelLoadError(
            f"adapter.pretrained_adapter_weights: {weights!r} has no {', '.join(missing)}; it must "
            f"be a folder or repo written by a PEFT model's save_pretrained.{pickle_hint}"
        )
    return folder


def _peft_error(exc: Exception, adapter: AdapterConfig, targets: list[str] | None) -> LlmMagicError:
    where = (
        f"target_modules {targets}" if getattr(adapter, "target_modules", None)
        else f"the target modules found in the model ({targets})"
    )
    return LlmMagicError(
        f"adapter: PEFT could not build the {adapter.type} adapter on {where}: {exc}. Check the "
        f"adapter's settings (e.g. adapter.target_modules), or try another adapter type."
    )
