"""``%llm_save DIR``: write a run folder that a fresh kernel can load (layout in :mod:`.layout`).

Weights go through the libraries' own ``save_pretrained`` (PEFT for adapters, transformers for
full fine-tunes), always as safetensors. The folder is written beside its target and swapped in
at the end, so a failed save never leaves half a folder or destroys the previous save.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

import llm_magic
from llm_magic.errors import LlmMagicError
from llm_magic.runtime.config.schema.trainer import TRAINING_TRAINERS
from llm_magic.runtime.persistence import layout
from llm_magic.runtime.persistence.export import generation_settings, write_hf_folder
from llm_magic.runtime.persistence.model_card import render_model_card
from llm_magic.runtime.persistence.user_config import user_config_text

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.models.loader import LoadedModel
    from llm_magic.runtime.persistence.merge import MergeReport
    from llm_magic.runtime.persistence.state import TrainingResults
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


__all__ = ["SaveReport", "merges_on_save", "save_model", "write_run_folder"]


def _human_bytes(size: int) -> str:
    if size <= 0:
        return "0 B"
    units = ["B", "KB", "MB", "GB", "TB"]
    power = min(int(math.log(size, 1024)), len(units) - 1)
    return f"{size / 1024 ** power:.1f} {units[power]}"


@dataclass
class SaveReport:
    """What a save wrote: the folder, its kind and the files (relative path -> bytes)."""

    path: Path
    kind: str
    base_model: str
    files: dict[str, int] = field(default_factory=dict)
    merged: bool = False
    checkpoint: str | None = None

    @property
    def total_bytes(self) -> int:
        """Size of everything written."""
        return sum(self.files.values())

    def __repr__(self) -> str:
        what = {"adapter": "adapter weights", "full": "full model weights", "config": "config only"}
        extras = []
        if self.merged:
            extras.append("merged weights")
        if self.checkpoint:
            extras.append(f"resume checkpoint {self.checkpoint}")
        extra = f" (+ {', '.join(extras)})" if extras else ""
        return (
            f"Saved {what.get(self.kind, self.kind)}{extra} for {self.base_model} to {self.path}: "
            f"{len(self.files)} files, {_human_bytes(self.total_bytes)}. "
            f"Load it in a new kernel with %llm_load {self.path}"
        )


def _is_peft(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "base_model")


def _relabel_adapter_base(folder: Path, base_model: str) -> None:
    """Record the config's ``base_model`` (not a local cache path) in every adapter_config.json.

    PEFT writes the loaded model's ``name_or_path``, which for a local or embedded base is a path
    on this machine; the name from the config is what another machine (or the Hub) can resolve,
    and what :mod:`.load` compares against.
    """
    for path in folder.rglob(layout.ADAPTER_CONFIG_NAME):
        if layout.CHECKPOINTS_DIR in path.relative_to(folder).parts:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = base_model
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_history(folder: Path, history: Any) -> bool:
    if history is None:
        return False
    # lazy: pandas loads on first use (importing llm_magic stays cheap)
    import pandas as pd

    frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
    if frame.empty:
        return False
    frame.to_csv(folder / layout.HISTORY_NAME, index=False)
    return True


def _jsonable(value: Any) -> Any:
    """Numbers from numpy/torch become plain floats so metrics.json stays standard JSON."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _flat_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flatten nested metrics (``{"validation": {"loss": 1}}`` -> ``validation.loss``) for the card."""
    flat: dict[str, Any] = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, Mapping):
            for sub, inner in _flat_metrics(value).items():
                flat[f"{key}.{sub}"] = inner
        else:
            flat[str(key)] = value
    return flat


def write_run_folder(
    directory: str | Path,
    *,
    config: Mapping[str, Any],
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    user_config: str | None = None,
    config_name: str | None = None,
    history: Any = None,
    metrics: Mapping[str, Any] | None = None,
    rows: int | None = None,
    checkpoint: str | Path | None = None,
    merged_model: PreTrainedModel | None = None,
    run_info: Mapping[str, Any] | None = None,
    generation: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> SaveReport:
    """Write a run folder from explicit parts (the core of :func:`save_model`).

    ``config`` is the effective config dict; ``user_config`` the YAML text of the config as the
    user wrote it (see :mod:`.user_config`; None writes ``config.yaml`` alone); ``model`` the
    trained model (PEFT-wrapped for an adapter); ``merged_model`` an optional merged copy whose full weights are written too (the
    ``merge_adapter_into_base_model`` post-processor); ``checkpoint`` a trainer checkpoint folder
    copied into ``checkpoints/`` so that training can resume from it; ``run_info`` the last
    run's record (id, status, steps) for the manifest; ``generation`` the HF generation
    settings written with the merged model; ``overwrite`` writes into a non-empty folder that
    llm_magic did not write (its other files are kept, see ``layout.AtomicFolder``).
    """
    base_model = str(config.get("base_model"))
    if _is_peft(model):
        kind = "adapter"
    elif (config.get("trainer") or {}).get("type") in TRAINING_TRAINERS:
        kind = "full"
    else:
        kind = "config"
    if kind == "full" and getattr(model, "is_quantized", False):
        raise LlmMagicError(
            "Cannot save a quantized model without an adapter: its full weights are not the "
            "trained ones. Add an adapter (adapter: lora) or remove quantization."
        )

    target = Path(directory).expanduser().resolve()
    with layout.AtomicFolder(target, layout.MANIFEST_NAME, overwrite=overwrite) as out:
        folder = out.path
        adapter_names: list[str] = []
        if kind == "adapter":
            adapter_names = sorted(model.peft_config)
            model.save_pretrained(str(folder), safe_serialization=True)
            _relabel_adapter_base(folder, base_model)
        elif kind == "full":
            model.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
        if merged_model is not None:
            # In a subfolder: transformers' PEFT integration would apply the root adapter a
            # second time on top of merged weights sitting next to it.
            write_hf_folder(
                folder / layout.MERGED_DIR, model=merged_model, tokenizer=tokenizer,
                generation=generation, card=render_model_card(
                    kind="export", config=config, metrics=_flat_metrics(metrics), data_rows=rows,
                    merged=True,
                ),
            )

        (folder / layout.CONFIG_NAME).write_text(
            yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        if user_config is not None:
            (folder / layout.USER_CONFIG_NAME).write_text(user_config, encoding="utf-8")
        steps = None
        if _write_history(folder, history):
            # lazy: pandas loads on first use (importing llm_magic stays cheap)
            import pandas as pd

            steps = len(pd.read_csv(folder / layout.HISTORY_NAME))
        clean_metrics = _jsonable(dict(metrics)) if metrics else None
        if clean_metrics:
            (folder / layout.METRICS_NAME).write_text(
                json.dumps(clean_metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
        checkpoint_rel = None
        if checkpoint is not None:
            checkpoint = Path(checkpoint)
            checkpoint_rel = f"{layout.CHECKPOINTS_DIR}/{checkpoint.name}"
            shutil.copytree(checkpoint, folder / checkpoint_rel)

        (folder / layout.CARD_NAME).write_text(
            render_model_card(
                kind=kind, config=config, metrics=_flat_metrics(clean_metrics), data_rows=rows,
                merged=merged_model is not None, steps=steps,
            ),
            encoding="utf-8",
        )
        adapter = config.get("adapter") if isinstance(config.get("adapter"), Mapping) else None
        manifest = layout.Manifest(
            kind=kind,
            base_model=base_model,
            adapter_type=adapter.get("type") if adapter else None,
            adapter_names=adapter_names,
            merged=merged_model is not None,
            files=layout.weight_files(folder),
            sha256=layout.weight_hashes(folder),
            data_rows=rows,
            checkpoint=checkpoint_rel,
            config_name=config_name,
            run=_jsonable(dict(run_info)) if run_info else None,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            llm_magic_version=llm_magic.__version__,
        )
        (folder / layout.MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        layout.assert_no_secret(folder)
        written = {
            p.relative_to(folder).as_posix(): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file()
        }
    return SaveReport(
        path=target, kind=kind, base_model=base_model, files=written,
        merged=merged_model is not None, checkpoint=checkpoint_rel,
    )


def merges_on_save(config: "LLMConfig") -> bool:
    """True when a save also writes merged weights
    (``adapter.postprocessor.merge_adapter_into_base_model: true``)."""
    adapter = config.adapter
    return adapter is not None and bool(adapter.postprocessor.merge_adapter_into_base_model)


def save_model(directory: str | Path, *, config: "LLMConfig", bundle: "LoadedModel",
               config_name: str | None, results: "TrainingResults", merged: "MergeReport | None" = None,
               overwrite: bool = False) -> SaveReport:
    """Save the loaded ``bundle`` (model and tokenizer), its ``config`` and training's ``results``
    to ``directory``.

    ``merged`` (when :func:`merges_on_save`) is written too, as a standalone HF folder in
    ``merged/`` (see :func:`.merge.merge_model`); ``results.checkpoint`` is copied so that
    ``%llm_train --resume`` continues from this folder; ``overwrite`` as for
    :func:`write_run_folder`. Nothing is loaded: the caller hands in the model it has.
    """
    return write_run_folder(
        directory,
        config=config.to_dict(),
        user_config=user_config_text(config),
        model=bundle.model,
        tokenizer=bundle.tokenizer,
        config_name=config_name,
        history=results.history,
        metrics=results.metrics,
        rows=results.rows,
        checkpoint=results.checkpoint,
        merged_model=merged.model if merged is not None else None,
        run_info=results.run_info,
        generation=generation_settings(config, bundle.tokenizer) if merged is not None else None,
        overwrite=overwrite,
    )
