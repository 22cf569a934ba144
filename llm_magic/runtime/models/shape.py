"""What the base model's shape rules out, known before a single weight loads.

``%%llm_config`` accepts ``adapter.r: 1000000000000`` as a positive integer; the load that
follows then dies allocating (a 150-line traceback). The model's layer sizes tell that in
advance: a rank-``r`` update ``B @ A`` of an ``out x in`` layer has rank at most
``min(in, out)``, so a larger ``r`` only adds parameters that can never help (and a huge one
cannot be allocated). :func:`check_model_shape` reads the shape without weights: the model's
``config.json`` (local folder, embedded model or the hub cache, never the network) is built
on PyTorch's ``meta`` device, which gives every layer's size and no storage. When the shape
cannot be known offline, :func:`check_adapter_ranks` gives the same message at load time,
from the real model, before the adapter is built.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llm_magic.errors import ConfigError, ConfigErrorItem, LlmMagicError
from llm_magic.runtime.models.adapters import resolve_adapter_targets
from llm_magic.runtime.models.source import resolve_source

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Iterator, Sequence

    import torch

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.config.schema.adapters import Adapter as AdapterConfig
    from llm_magic.runtime.models.targets import TargetCandidates

__all__ = ["ModelShape", "check_adapter_ranks", "check_model_shape", "model_shape", "rank_problems"]

#: Adapter kinds whose rank fields factor each adapted ``out x in`` weight through ``r``
#: dimensions (LoRA: ``B @ A``; LoHa: a Hadamard product of two such pairs). AdaLoRA starts
#: from ``init_r`` and prunes down from there. Other kinds use ``r`` differently (VeRA shares
#: one random basis across layers; OFT counts blocks), so no ``min(in, out)`` bound applies.
RANK_FIELDS = {"lora": ("r",), "adalora": ("init_r", "target_r"), "loha": ("r",)}

# Layer tables by (config.json path, its mtime): building even a meta model costs a little,
# and %%llm_config cells are re-run often with the same base model.
_CACHE: dict[tuple[str, float], "ModelShape"] = {}


@dataclass(frozen=True)
class ModelShape:
    """The base model's adaptable layers: ``layers`` maps each module's full name to ``(in, out)``,
    ``candidates`` are its default adapter targets (:func:`.targets.find_candidates`)."""

    layers: dict[str, tuple[int, int]]
    candidates: TargetCandidates


def _layer_dims(module: torch.nn.Module) -> tuple[int, int] | None:
    """``(in, out)`` of a Linear, GPT-2 Conv1D or Embedding layer; None for anything else."""
    for a, b in (("in_features", "out_features"), ("num_embeddings", "embedding_dim")):
        if isinstance(getattr(module, a, None), int) and isinstance(getattr(module, b, None), int):
            return getattr(module, a), getattr(module, b)
    if type(module).__name__ == "Conv1D":  # transformers' Conv1D: weight is (in, out)
        weight = getattr(module, "weight", None)
        if weight is not None and weight.dim() == 2:
            return int(weight.shape[0]), int(weight.shape[1])
    return None


def shape_of(model: torch.nn.Module) -> ModelShape:
    """The :class:`ModelShape` of a (bare, un-wrapped) model, real or on the meta device."""
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.models.targets import find_candidates

    layers = {}
    for name, module in model.named_modules():
        dims = _layer_dims(module)
        if name and dims is not None:
            layers[name] = dims
    return ModelShape(layers, find_candidates(model))


def _config_json(base_model: str) -> Path | None:
    """The base model's ``config.json`` on this machine (folder, embedded or hub cache), or None."""
    try:
        source = resolve_source(base_model)
    except LlmMagicError:  # a missing folder: the load reports it, in its own words
        return None
    if source.is_local:
        path = Path(source.location) / "config.json"
        return path if path.is_file() else None
    try:
        # lazy: pulls huggingface_hub; %load_ext stays light
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers
        return None
    found = try_to_load_from_cache(source.location, "config.json")
    return Path(found) if isinstance(found, (str, os.PathLike)) else None


def model_shape(base_model: str) -> ModelShape | None:
    """The shape of ``base_model`` from its config alone (no weights, no network), or None.

    None when the config is not on this machine (a hub model not downloaded yet) or cannot be
    built (an architecture this transformers does not know: the load explains that).
    """
    path = _config_json(base_model)
    if path is None:
        return None
    key = (str(path), path.stat().st_mtime)
    if key in _CACHE:
        return _CACHE[key]
    # torch and transformers are needed to know each layer's size; this runs in a config cell
    # that names a model, never on `import llm_magic` nor in load_config.
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        hf_config = AutoConfig.from_pretrained(str(path.parent), trust_remote_code=False)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(hf_config, trust_remote_code=False)
    except Exception:  # noqa: BLE001 - unknown shape: the load checks again and explains failures
        return None
    shape = shape_of(model)
    _CACHE[key] = shape
    return shape


def _adapter_blocks(config: LLMConfig) -> Iterator[tuple[str, AdapterConfig]]:
    if config.adapter is not None:
        yield "adapter", config.adapter
    multi = config.adapters
    if multi is not None:
        for name, block in multi.adapters.items():
            yield f"adapters.adapters.{name}", block


def _targeted(shape: ModelShape, targets: str | Sequence[str] | None) -> dict[str, tuple[int, int]]:
    """The layers PEFT would wrap for ``targets`` (a regex string, or names matched by suffix)."""
    if isinstance(targets, str):
        return {n: d for n, d in shape.layers.items() if re.fullmatch(targets, n)}
    wanted = list(targets or [])
    return {n: d for n, d in shape.layers.items() if any(n == t or n.endswith("." + t) for t in wanted)}


def rank_problems(config: LLMConfig, shape: ModelShape) -> list[tuple[str, str]]:
    """``(key path, message)`` for each adapter rank larger than a layer it adapts can use, and for
    ``target_modules`` that name no module of the model."""
    problems = []
    for path, block in _adapter_blocks(config):
        fields = RANK_FIELDS.get(getattr(block, "type", None), ())
        if getattr(block, "pretrained_adapter_weights", None):
            continue  # pretrained weights bring their own rank and targets
        if not fields and not getattr(block, "target_modules", None):
            continue
        try:
            targets = resolve_adapter_targets(block, shape.candidates)
        except LlmMagicError as exc:  # target_modules naming no module of this model
            problems.append((f"{path}.target_modules", str(exc).split(": ", 1)[-1]))
            continue
        layers = _targeted(shape, targets)
        # LoRA's rank_pattern gives some layers their own rank; `r` covers only the others.
        patterns = dict(getattr(block, "rank_pattern", None) or {}) if block.type == "lora" else {}
        by_key: dict[str, dict[str, tuple[int, int]]] = {}
        for name, dims in layers.items():
            key = next((k for k in patterns if re.match(rf"(.*\.)?({k})$", name)), None)
            by_key.setdefault(key, {})[name] = dims
        checks = [(f"{path}.{field}", field, field, getattr(block, field, None), by_key.get(None, {}))
                  for field in fields]
        checks += [(f"{path}.rank_pattern.{key}", f"rank_pattern {key!r}", key, patterns[key], group)
                   for key, group in by_key.items() if key is not None]
        for key_path, what, setting, value, group in checks:
            if not group or not isinstance(value, int):
                continue
            name, (d_in, d_out) = min(group.items(), key=lambda item: min(item[1]))
            bound = min(d_in, d_out)
            if value > bound:
                problems.append((key_path, _rank_message(what, setting, value, name, d_in, d_out)))
    return problems


def _rank_message(what: str, setting: str, value: int, layer: str, d_in: int, d_out: int) -> str:
    bound = min(d_in, d_out)
    leaf = layer.rsplit(".", 1)[-1]
    return (f"{what} is {value}, larger than the layers it adapts allow: {leaf} is {d_in} -> {d_out}, "
            f"so an update of rank above min({d_in}, {d_out}) = {bound} adds weights that cannot "
            f"help (and a huge rank cannot be allocated). Use {setting}: {bound} or less "
            "(8-64 is usual), or adapt larger layers with target_modules.")


def _raise(config: LLMConfig, problems: list[tuple[str, str]]) -> None:
    if not problems:
        return

    def line(path: str) -> int | None:
        block = path.rsplit(".", 1)[0]
        return config.line_of(path) or config.line_of(block)  # a default r has no line: point at the block

    raise ConfigError([ConfigErrorItem(path, line(path), message) for path, message in problems])


def _shape_bound(config: LLMConfig) -> bool:
    """Whether any adapter setting depends on the model's shape (a rank, or named target modules)."""
    return any((getattr(b, "type", None) in RANK_FIELDS or getattr(b, "target_modules", None))
               and not getattr(b, "pretrained_adapter_weights", None) for _, b in _adapter_blocks(config))


def check_model_shape(config: LLMConfig) -> None:
    """Raise :class:`~llm_magic.ConfigError` (with lines) for values ``config``'s base model cannot
    take; do nothing when the shape is not known offline (then the load checks)."""
    if not _shape_bound(config):
        return  # nothing shape-bound to check: do not import torch for nothing
    shape = model_shape(config.base_model)
    if shape is not None:
        _raise(config, rank_problems(config, shape))


def check_adapter_ranks(config: LLMConfig, model: torch.nn.Module) -> None:
    """The same check on a loaded bare model, before its adapter is built (the offline fallback)."""
    if _shape_bound(config):
        _raise(config, rank_problems(config, shape_of(model)))
