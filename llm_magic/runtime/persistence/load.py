"""``%llm_load DIR``: bring a run folder back into a session, or fail leaving it untouched.

Everything is checked and loaded into temporaries first (manifest, file sizes, safetensors
headers, the config, the adapter's base, a model manager of its own with the weights applied);
only then does ``Session.load`` swap config, model and training results in, in one step. So a
missing folder, a damaged file or an adapter that does not fit its base raises a clear
:class:`~llm_magic.LlmMagicError` and the session keeps its config, model and data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llm_magic.errors import CheckpointError, ConfigError, LlmMagicError
from llm_magic.runtime.config import load_config
from llm_magic.runtime.config.yaml_lines import safe_load
from llm_magic.runtime.models.manager import ModelManager
from llm_magic.runtime.persistence import layout
from llm_magic.runtime.persistence.state import RestoredRun, build_training_restore
from llm_magic.runtime.persistence.user_config import for_folder, load_user_config, read_user_config

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.training.runs import RunRecord


__all__ = [
    "LoadReport",
    "PreparedLoad",
    "apply_adapter_weights",
    "prepare_load",
    "read_run",
]


@dataclass
class SavedRun:
    """A run folder read and checked from disk; nothing is loaded into a model yet."""

    path: Path
    manifest: layout.Manifest
    config: dict[str, Any]
    history: Any = None
    metrics: dict[str, Any] | None = None
    #: The text of ``config.user.yaml`` (the config as written); None in older folders.
    user_config: str | None = None


@dataclass
class LoadReport:
    """What ``%llm_load`` restored."""

    path: Path
    kind: str
    base_model: str
    config_name: str
    adapter_type: str | None = None
    history_rows: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        what = {
            "adapter": f"{self.adapter_type} adapter on {self.base_model}",
            "full": f"full fine-tune of {self.base_model}",
            "config": f"config for {self.base_model}",
        }[self.kind]
        parts = [f"Loaded {what} from {self.path} as config {self.config_name!r}"]
        if self.history_rows:
            parts.append(f"{self.history_rows} history rows")
        if self.metrics:
            parts.append(f"{len(self.metrics)} final metrics")
        if self.checkpoint:
            parts.append("a checkpoint for %llm_train --resume")
        return "; ".join(parts) + "." + "".join(f"\nNote: {note}" for note in self.notes)


def _check_safetensors(path: Path, manifest: layout.Manifest) -> None:
    """Read every weights file: a truncated, garbled or NaN/Inf-filled file fails here, by name.

    Tensors are read one at a time, so checking costs one tensor's memory at most.
    """
    # lazy: torch loads on first use (importing llm_magic stays cheap)
    import torch
    from safetensors import safe_open

    for rel in manifest.files:
        try:
            with safe_open(str(path / rel), framework="pt") as handle:
                bad = next((key for key in handle.keys() if _not_finite(handle.get_tensor(key), torch)),
                           None)
        except Exception as exc:  # safetensors raises its own error types and OSError
            raise CheckpointError(
                f"{path / rel} is corrupted or truncated and cannot be read ({exc}). Copy the "
                "folder again from where it was saved, or save the model again with %llm_save."
            ) from None
        if bad is not None:
            raise CheckpointError(
                f"{path / rel} holds NaN or infinite values (tensor {bad}): these weights would "
                "generate nothing useful. Load an earlier save, or train again (lower "
                "trainer.learning_rate if the loss went NaN)."
            )


def _not_finite(tensor: Any, torch: Any) -> bool:
    return tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())


def read_run(directory: str | Path) -> SavedRun:
    """Read and check a run folder: manifest, weights files, config, history and metrics."""
    path = layout.run_folder(directory).resolve()
    manifest = layout.read_manifest(path)
    layout.check_file_sizes(path, manifest)
    _check_safetensors(path, manifest)
    layout.check_hashes(path, manifest)  # last: the checks above name the damage more precisely
    config_path = path / layout.CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{config_path} is missing: the run folder is incomplete.")
    try:
        config = safe_load(config_path.read_text(encoding="utf-8"))  # alias-capped
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{config_path} is not valid YAML ({exc}).") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path} does not hold a config mapping.")

    history = None
    if (path / layout.HISTORY_NAME).is_file():
        # lazy: pandas loads on first use (importing llm_magic stays cheap)
        import pandas as pd

        history = pd.read_csv(path / layout.HISTORY_NAME)
    metrics = None
    if (path / layout.METRICS_NAME).is_file():
        import json

        metrics = json.loads((path / layout.METRICS_NAME).read_text(encoding="utf-8"))
    run = SavedRun(path=path, manifest=manifest, config=config, history=history, metrics=metrics,
                   user_config=read_user_config(path))
    _check_adapter_base(run)
    return run


def _check_adapter_base(run: SavedRun) -> None:
    """The adapter must have been trained on the base model the folder's config names."""
    import json

    base = str(run.config.get("base_model"))
    if run.manifest.kind != "adapter":
        return
    for name in run.manifest.adapter_names or ["default"]:
        folder = run.path if name == "default" else run.path / name
        adapter_config = folder / layout.ADAPTER_CONFIG_NAME
        if not adapter_config.is_file():
            raise CheckpointError(f"{adapter_config} is missing: the run folder is incomplete.")
        trained_on = json.loads(adapter_config.read_text(encoding="utf-8")).get(
            "base_model_name_or_path"
        )
        if trained_on and trained_on != base:
            raise CheckpointError(
                f"{adapter_config} was trained on base model {trained_on!r}, but "
                f"{run.path / layout.CONFIG_NAME} names base_model {base!r}. An adapter only fits "
                "the base it was trained on: fix base_model in config.yaml and config.user.yaml, "
                "or save again."
            )


def _adapter_file(path: Path, name: str) -> Path:
    # PEFT's save_pretrained layout: the "default" adapter at the root, others in <name>/.
    folder = path if name == "default" else path / name
    return folder / layout.ADAPTER_WEIGHTS_NAME


def apply_adapter_weights(model: torch.nn.Module, path: Path, adapter_names: list[str]) -> None:
    """Load saved adapter weights into a PEFT model after checking that every tensor fits.

    The check (same tensor names, same shapes) is what catches an adapter saved for another
    base model or another rank: PEFT alone would skip or partly load mismatched tensors.
    """
    # lazy: torch loads on first use (importing llm_magic stays cheap)
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file

    for name in adapter_names or ["default"]:
        if name not in getattr(model, "peft_config", {}):
            raise CheckpointError(
                f"{path}: the saved adapter {name!r} is not in the model built from config.yaml "
                f"(adapters there: {', '.join(sorted(model.peft_config))})."
            )
        weights_path = _adapter_file(path, name)
        saved = load_file(str(weights_path))
        expected = get_peft_model_state_dict(model, adapter_name=name)
        missing = sorted(set(expected) - set(saved))
        extra = sorted(set(saved) - set(expected))
        wrong = sorted(
            k for k in set(saved) & set(expected) if tuple(saved[k].shape) != tuple(expected[k].shape)
        )
        if missing or extra or wrong:
            details = []
            if wrong:
                k = wrong[0]
                details.append(
                    f"{len(wrong)} tensors differ in shape (e.g. {k}: saved "
                    f"{tuple(saved[k].shape)}, the model needs {tuple(expected[k].shape)})"
                )
            if missing:
                details.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
            if extra:
                details.append(f"{len(extra)} unexpected tensors (e.g. {extra[0]})")
            raise CheckpointError(
                f"{weights_path} does not fit the model built from its config.yaml: "
                f"{'; '.join(details)}. The adapter was saved for another base model or adapter "
                "settings; load it with the config it was trained with."
            )
        set_peft_model_state_dict(model, saved, adapter_name=name)


def _config_for_loading(run: SavedRun) -> tuple[Any, str | None]:
    """The LLMConfig to build the model from (weights come from the folder), and a note or None.

    Built from ``config.user.yaml`` when the folder has one and it still describes the effective
    ``config.yaml`` (so keys the user left unset stay unset); otherwise from ``config.yaml``.
    """
    try:
        effective = load_config(for_folder(run.config, run.manifest.kind, run.path)[0])
    except ConfigError as exc:
        raise CheckpointError(f"{run.path / layout.CONFIG_NAME} is not a valid config:\n{exc}") from None
    if run.user_config is None:
        return effective, None
    fallback = f"loaded {layout.CONFIG_NAME} instead, so every key in it counts as set"
    try:
        user = load_user_config(run.user_config, run.manifest.kind, run.path)
    except LlmMagicError as exc:
        return effective, f"{layout.USER_CONFIG_NAME} could not be used ({exc}); {fallback}."
    if user.to_dict() != effective.to_dict():
        return effective, (f"{layout.USER_CONFIG_NAME} does not match {layout.CONFIG_NAME} (was one "
                           f"edited by hand?); {fallback}.")
    return user, None


@dataclass
class PreparedLoad:
    """A run folder loaded beside the session, ready to be swapped in; nothing of the session
    is touched yet. ``Session.load`` makes ``models`` and ``config`` current and hands
    ``restored``, ``rows`` and ``record`` to :func:`.state.restore_training_state`."""

    models: ModelManager
    config: LLMConfig
    config_name: str
    restored: RestoredRun
    rows: list[dict[str, Any]]
    record: RunRecord | None
    report: LoadReport


def prepare_load(directory: str | Path, name: str | None = None) -> PreparedLoad:
    """Read, check and load the run folder ``directory`` into a model manager of its own.

    The config is to be stored under ``name`` (default: the name it was saved under). On any
    error the model built so far is freed and nothing else has changed.
    """
    run = read_run(directory)
    config, config_note = _config_for_loading(run)
    config_name = name or run.manifest.config_name or "default"

    manager = ModelManager()
    try:
        bundle = manager.ensure(config)
        if run.manifest.kind == "adapter":
            apply_adapter_weights(bundle.model, run.path, run.manifest.adapter_names)
        if run.manifest.kind != "config":
            bundle.kept_in = str(run.path)
    except BaseException:
        manager.unload()
        raise

    checkpoint = run.path / run.manifest.checkpoint if run.manifest.checkpoint else None
    restored = RestoredRun(
        path=run.path, history=run.history, metrics=run.metrics, data_rows=run.manifest.data_rows,
        checkpoint=str(checkpoint) if checkpoint else None,
    )
    rows, record = build_training_restore(restored, run.manifest.run, run.config)
    report = LoadReport(
        path=run.path,
        kind=run.manifest.kind,
        base_model=str(run.config.get("base_model")),
        config_name=config_name,
        adapter_type=run.manifest.adapter_type,
        history_rows=0 if run.history is None else len(run.history),
        metrics=dict(run.metrics or {}),
        checkpoint=checkpoint,
        notes=[config_note] if config_note else [],
    )
    return PreparedLoad(models=manager, config=config, config_name=config_name, restored=restored,
                        rows=rows, record=record, report=report)
