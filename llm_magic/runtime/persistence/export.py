"""``%llm_export DIR``: a standard Hugging Face model folder that needs no llm_magic to load.

The folder holds exactly what ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer`` and
``model.generate`` read: ``config.json``, ``model.safetensors``, the tokenizer files and a
``generation_config.json`` carrying the config's ``generation:`` settings, plus a model card.
An adapter is merged first (:mod:`.merge`); no quantization config and no custom code go in.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.generation.settings import hf_kwargs
from llm_magic.runtime.persistence import layout
from llm_magic.runtime.persistence.model_card import render_model_card

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.models.loader import LoadedModel
    from llm_magic.runtime.persistence.merge import MergeReport
    from llm_magic.runtime.persistence.state import TrainingResults
    from transformers import GenerationConfig as GenerationConfigHF
    from transformers import PreTrainedTokenizerBase


__all__ = ["ExportReport", "export_model", "needs_merge", "write_hf_folder"]

#: Marks a folder as written by ``%llm_export``, so a later export may overwrite it.
EXPORT_MARKER = ".llm_magic_export"

# Sampling-only settings that transformers refuses to save alongside do_sample=False.
_SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff")


@dataclass
class ExportReport:
    """What an export wrote."""

    path: Path
    base_model: str
    merged: bool
    files: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        how = "adapter merged into the base weights" if self.merged else "full weights"
        size = sum(self.files.values()) / 1e6
        return (
            f"Exported a standalone Hugging Face model ({how}) to {self.path}: "
            f"{len(self.files)} files, {size:.1f} MB. Load it anywhere with "
            f"AutoModelForCausalLM.from_pretrained({str(self.path)!r})."
        )


def _generation_config(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
                       overrides: Mapping[str, Any]) -> GenerationConfigHF:
    """The model's generation config with the llm config's settings and the tokenizer's ids."""
    # lazy: transformers loads on first use (importing llm_magic stays cheap)
    from transformers import GenerationConfig

    base = getattr(model, "generation_config", None)
    config = copy.deepcopy(base) if base is not None else GenerationConfig.from_model_config(model.config)
    config.update(**dict(overrides))
    for attr in ("pad_token_id", "eos_token_id", "bos_token_id"):
        if getattr(config, attr, None) is None and getattr(tokenizer, attr, None) is not None:
            setattr(config, attr, getattr(tokenizer, attr))
    if not getattr(config, "do_sample", False):
        # Greedy decoding ignores these; transformers rejects saving them with do_sample=False.
        defaults = GenerationConfig()
        for key in _SAMPLING_KEYS:
            if hasattr(config, key):
                setattr(config, key, getattr(defaults, key, None))
    return config


def write_hf_folder(
    directory: str | Path,
    *,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    generation: Mapping[str, Any] | None = None,
    card: str | None = None,
) -> dict[str, int]:
    """Write ``model`` and ``tokenizer`` as a plain HF folder; return written files and sizes."""
    if getattr(model, "is_quantized", False) or getattr(model.config, "quantization_config", None):
        raise LlmMagicError(
            "Cannot export a quantized model as standard weights. Merge an adapter first "
            "(%llm_merge reloads the base in full precision) or load the model unquantized."
        )
    with layout.AtomicFolder(directory, EXPORT_MARKER) as out:
        folder = out.path
        model.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
        _generation_config(model, tokenizer, generation or {}).save_pretrained(str(folder))
        config_path = folder / layout.MODEL_CONFIG_NAME
        data = json.loads(config_path.read_text(encoding="utf-8"))
        if data.pop("auto_map", None) is not None:
            # Exported models must load without trust_remote_code.
            config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if card:
            (folder / layout.CARD_NAME).write_text(card, encoding="utf-8")
        (folder / EXPORT_MARKER).write_text("written by llm_magic %llm_export\n", encoding="utf-8")
        layout.assert_no_secret(folder)
        files = {
            p.relative_to(folder).as_posix(): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file()
        }
    return files


def generation_settings(config: LLMConfig, tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """The config's generation settings as the session generates with them (``sequence_bias``
    texts as token ids, which is what ``generation_config.json`` must hold)."""
    return hf_kwargs(config.generation, tokenizer)


def needs_merge(config: "LLMConfig", bundle: "LoadedModel") -> bool:
    """True when an export must merge an adapter first (the config names one, or the model has one)."""
    return config.adapter is not None or hasattr(bundle.model, "peft_config")


def export_model(directory: str | Path, *, config: "LLMConfig", bundle: "LoadedModel",
                 merged: "MergeReport | None", results: "TrainingResults") -> ExportReport:
    """Write the loaded model as a standard Hugging Face folder: ``merged``'s model when the
    adapter was merged (see :func:`needs_merge`), else the bundle's own full weights."""
    model = merged.model if merged is not None else bundle.model
    config_dict = config.to_dict()
    generation = generation_settings(config, bundle.tokenizer)
    card = render_model_card(
        kind="export", config=config_dict, metrics=results.metrics,
        data_rows=results.rows, merged=merged is not None,
    )
    files = write_hf_folder(
        directory, model=model, tokenizer=bundle.tokenizer, generation=generation, card=card
    )
    path = Path(directory).expanduser().resolve()
    return ExportReport(path=path, base_model=str(config.base_model), merged=merged is not None,
                        files=files)
