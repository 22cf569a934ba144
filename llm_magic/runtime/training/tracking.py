"""Experiment tracking: a run reported to TensorBoard, MLflow, Weights & Biases and/or Trackio.

``%llm_train --report-to tensorboard,mlflow`` / ``Session.train(report_to=...)`` choose the
trackers; :func:`parse_report_to` checks the names and that each is installed (one line naming
the extra otherwise). A :class:`Tracking` holds one Hugging Face integration callback per
tracker (:mod:`.trackers`): the Trainer feeds them every training and evaluation log; after
``trainer.train()`` the test-split metrics and the artifacts go into the same tracker runs, and
:meth:`Tracking.finish` closes them. ``trainer: none`` evaluations drive the same callbacks
without a Trainer (:meth:`Tracking.begin`).

What each tracker gets: the run name (llm_magic's run id), the effective config flattened with
its key paths under ``config.`` (``config.trainer.learning_rate``; the prefix keeps them apart
from the Trainer's own ``learning_rate``, which HF's callbacks log beside them), tags (base
model, adapter kind, quantization), metrics, and artifacts where the tracker has them. Only
rank 0 of a multi-process job reports (the caller creates no :class:`Tracking` elsewhere).

Importing this module imports no tracker (they load when a run asks for one).
"""
from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import yaml

from llm_magic.errors import LlmMagicError

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch

__all__ = ["TRACKERS", "Tracking", "flatten_config", "parse_report_to", "run_tags"]

#: Tracker name -> (module it needs, the llm-magic extra that installs it).
TRACKERS: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow"),
    "wandb": ("wandb", "wandb"),
    "trackio": ("trackio", "trackio"),
}


def parse_report_to(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The tracker names of ``value`` (``"tensorboard,mlflow"``, a list, ``"none"``, ``"all"``).

    Raises a one-line :class:`LlmMagicError` for an unknown name or a tracker that is not installed.
    """
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if name in ("", "none"):
            continue
        if name == "all":
            names.extend(n for n in TRACKERS if n not in names)
            continue
        if name not in TRACKERS:
            raise LlmMagicError(
                f"report_to: unknown tracker {item!r}. Use any of {', '.join(TRACKERS)} (comma-separated), "
                "all, or none."
            )
        if name not in names:
            names.append(name)
    for name in names:
        module, extra = TRACKERS[name]
        if importlib.util.find_spec(module) is None:
            raise LlmMagicError(
                f"report_to: {name} is not installed. Install it with: pip install 'llm-magic[{extra}]' "
                "(or 'llm-magic[tracking]' for every tracker)."
            )
    return tuple(names)


def flatten_config(config: Mapping[str, Any], prefix: str = "config.") -> dict[str, Any]:
    """``config`` as ``{"config.trainer.learning_rate": 0.0001, ...}``.

    Lists of sections go by index, ``config.input_features.0.name`` (MLflow refuses brackets in
    parameter names); lists of plain values stay one value.

    Values are plain scalars (``None`` as ``"None"``), as trackers' parameter stores want.
    """
    out: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (list, tuple)) and value and any(isinstance(v, (Mapping, list, tuple)) for v in value):
            for index, inner in enumerate(value):
                walk(inner, f"{path}.{index}")
        elif isinstance(value, (bool, int, float, str)):
            out[prefix + path] = value
        else:
            out[prefix + path] = str(value)

    walk(dict(config), "")
    return out


def run_tags(config: Mapping[str, Any]) -> dict[str, str]:
    """The tags users filter runs by: base model, adapter kind, quantization."""
    adapter = config.get("adapter") if isinstance(config.get("adapter"), Mapping) else None
    quantization = config.get("quantization") if isinstance(config.get("quantization"), Mapping) else None
    bits = quantization.get("bits") if quantization else None
    return {
        "base_model": str(config.get("base_model")),
        "adapter": str(adapter.get("type")) if adapter else "none",
        "quantization": f"{bits}-bit" if bits else "none",
    }


class Tracking:
    """The trackers one run reports to (see the module docstring).

    ``names`` come from :func:`parse_report_to`; ``folder`` is the run's folder (TensorBoard
    writes ``<folder>/tensorboard``), ``root`` the runs folder (the default MLflow store
    ``<root>/mlflow.db`` and W&B's ``<root>/wandb``).
    """

    def __init__(self, names: Iterable[str], *, run_name: str, folder: str, root: str,
                 config: Mapping[str, Any]) -> None:
        # lazy: pulls transformers; only a run that reports pays it
        from llm_magic.runtime.training.trackers import make_callback

        self.names = tuple(names)
        self.run_name = run_name
        self.folder = os.path.abspath(folder)
        self.params = flatten_config(config)
        self.tags = run_tags(config)
        self.callbacks = [make_callback(name, self, os.path.abspath(root)) for name in self.names]
        self._finished = False

    def __bool__(self) -> bool:
        return bool(self.names)

    @property
    def locations(self) -> dict[str, str]:
        """Tracker name -> where this run is (a log folder, an MLflow run id and store URI, ...)."""
        return {cb.tracker: cb.location for cb in self.callbacks if cb.location}

    def begin(self, model: torch.nn.Module | None = None) -> None:
        """Open the tracker runs without a Trainer (``trainer: none``): HF's ``on_train_begin``."""
        # lazy: pulls transformers; only a run that reports pays it
        from transformers import TrainerControl, TrainerState, TrainingArguments

        args = TrainingArguments(output_dir=self.folder, run_name=self.run_name, project="llm_magic",
                                 report_to="none", use_cpu=True, log_level="error")
        state = TrainerState()
        for cb in self.callbacks:
            cb.on_train_begin(args, state, TrainerControl(), model=model)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Send ``metrics`` (e.g. ``test_loss``) at ``step`` through every callback's ``on_log``."""
        # lazy: pulls transformers; only a run that reports pays it
        from transformers import TrainerControl

        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not numbers:
            return
        for cb in self.callbacks:
            if cb.seen is not None:
                args, state = cb.seen
                state.global_step = step
                cb.on_log(args, state, TrainerControl(), logs=dict(numbers))

    def log_artifacts(self, folder: str) -> None:
        """Attach ``folder`` (adapter weights and config) to every tracker that stores files."""
        for cb in self.callbacks:
            if cb.seen is not None:
                cb.log_artifacts(folder)

    def finish(self) -> None:
        """Close every tracker run (flushes its files); safe to call twice."""
        if self._finished:
            return
        self._finished = True
        errors = []
        for cb in self.callbacks:
            try:
                cb.finish()
            except Exception as exc:  # noqa: BLE001 - one tracker failing to close must not hide the others
                errors.append(f"{cb.tracker}: {exc}")
        if errors:
            raise LlmMagicError("A tracker could not close its run: " + "; ".join(errors))


def write_artifacts(model: torch.nn.Module, config: Mapping[str, Any], folder: str) -> str:
    """Write what the trackers attach to a run into ``folder``: the adapter weights and the config.

    A PEFT model saves only its adapter (safetensors); a full fine-tune's weights are not copied
    into the trackers (they are as large as the model; the run folder has them).
    """
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(dict(config), handle, sort_keys=False)
    if model is not None and hasattr(model, "peft_config"):
        model.save_pretrained(folder, safe_serialization=True)
    return folder
