"""Hugging Face's tracker callbacks, each opened the way llm_magic runs want (see :mod:`.tracking`).

Each class subclasses the ``transformers.integrations`` callback and keeps its logging (every
``on_log`` of the Trainer goes through HF's code). What they add:

- the tracker run is opened with llm_magic's run name, the flattened config and the tags, in a
  local store under the runs folder unless the user configured one (``MLFLOW_TRACKING_URI``,
  ``WANDB_DIR``, ``TRACKIO_DIR``, ...);
- ``on_train_end`` does not close the run: the test-split metrics and the artifacts come after
  ``trainer.train()`` returns, so :meth:`_Tracked.finish` closes it (HF's ``on_train_end``);
- :meth:`_Tracked.log_artifacts` attaches the adapter weights and config where the tracker
  stores files, and :attr:`_Tracked.location` says where the run is.

Importing this module imports transformers (the caller imports it only when a run reports).
"""
from __future__ import annotations

import os
from typing import Any

from transformers import TrainerControl
from transformers.integrations import MLflowCallback, TensorBoardCallback, TrackioCallback, WandbCallback

from llm_magic.errors import LlmMagicError

__all__ = ["make_callback"]

#: Project / experiment name runs go to unless the user names one.
PROJECT = "llm_magic"
# The MLflow tracking URI we set ourselves (so a later run with another runs folder moves it,
# while a URI the user set stays theirs).
_our_mlflow_uri: str | None = None


class _Tracked:
    """What the four tracker callbacks share: deferred close, artifacts, location."""

    tracker = ""

    def __init__(self, tracking: Any, root: str) -> None:
        super().__init__()
        self.tracking = tracking
        self.root = root
        #: ``(args, state)`` of the run once it began (the test metrics are logged with them).
        self.seen: tuple[Any, Any] | None = None
        self.location = ""

    def on_train_begin(self, args, state, control, **kwargs):
        self.seen = (args, state)
        try:
            super().on_train_begin(args, state, control, **kwargs)
        except LlmMagicError:
            raise
        except Exception as exc:
            # A tracker that cannot start (bad URI, store not writable, ...) is the user's setup.
            raise LlmMagicError(f"report_to {self.tracker}: could not start its run: {type(exc).__name__}: {exc}") from exc

    def on_train_end(self, args, state, control, **kwargs):
        # The run stays open for the test metrics and artifacts; finish() closes it.
        self.seen = (args, state)

    def log_artifacts(self, folder: str) -> None:
        """Attach ``folder`` to the run (trackers without file storage keep nothing)."""

    def finish(self) -> None:
        """Close the run as HF's ``on_train_end`` does (and whatever HF leaves open)."""
        if self.seen is not None:
            args, state = self.seen
            super().on_train_end(args, state, TrainerControl())


class TensorBoardTracker(_Tracked, TensorBoardCallback):
    """Event files in ``<run folder>/tensorboard``: scalars, the config as HParams and text, tags."""

    tracker = "tensorboard"

    def __init__(self, tracking: Any, root: str) -> None:
        super().__init__(tracking, root)
        if self.logging_dir is None:  # TENSORBOARD_LOGGING_DIR, when set, wins as in HF
            self.logging_dir = os.path.join(tracking.folder, "tensorboard")
        self.location = self.logging_dir

    def on_train_begin(self, args, state, control, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)
        if self.tb_writer is None:
            return
        # lazy: tensorboard is an optional extra ([tensorboard])
        from torch.utils.tensorboard.summary import hparams

        # HParams (the dashboard's parameter table) written into this run's own event file;
        # SummaryWriter.add_hparams would open a separate sub-run for them.
        params = {**self.tracking.params, **{f"tag.{k}": v for k, v in self.tracking.tags.items()}}
        writer = self.tb_writer._get_file_writer()
        for summary in hparams(params, {}):
            writer.add_summary(summary)
        self.tb_writer.add_text("tags", "\n".join(f"- {k}: {v}" for k, v in self.tracking.tags.items()))
        self.tb_writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in self.tracking.params.items()))
        self.tb_writer.flush()


class MLflowTracker(_Tracked, MLflowCallback):
    """An MLflow run (default store ``sqlite:///<runs>/mlflow.db``, experiment ``llm_magic``)."""

    tracker = "mlflow"

    def setup(self, args, state, model):
        global _our_mlflow_uri
        mlflow = self._ml_flow
        if state.is_world_process_zero:
            uri = os.getenv("MLFLOW_TRACKING_URI")
            if uri:
                mlflow.set_tracking_uri(uri)
            elif not mlflow.is_tracking_uri_set() or mlflow.get_tracking_uri() == _our_mlflow_uri:
                os.makedirs(self.root, exist_ok=True)
                _our_mlflow_uri = f"sqlite:///{os.path.join(self.root, 'mlflow.db')}"
                mlflow.set_tracking_uri(_our_mlflow_uri)
            name = os.getenv("MLFLOW_EXPERIMENT_NAME") or PROJECT
            experiment = mlflow.get_experiment_by_name(name)
            if experiment is None:
                # Artifacts beside the store, not in ./mlruns of whatever the working folder is.
                location = os.path.join(self.root, "mlruns") if mlflow.get_tracking_uri() == _our_mlflow_uri else None
                experiment_id = mlflow.create_experiment(name, artifact_location=location)
            else:
                experiment_id = experiment.experiment_id
            run = mlflow.start_run(experiment_id=experiment_id, run_name=self.tracking.run_name,
                                   tags=self.tracking.tags, nested=mlflow.active_run() is not None)
            limit = mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
            items = [(k, str(v)[:limit]) for k, v in self.tracking.params.items()]
            for start in range(0, len(items), self._MAX_PARAMS_TAGS_PER_BATCH):
                mlflow.log_params(dict(items[start:start + self._MAX_PARAMS_TAGS_PER_BATCH]))
            self.run_id = run.info.run_id
            self.location = f"run {run.info.run_id} in {mlflow.get_tracking_uri()}"
        # HF's setup sees the active run: it logs the TrainingArguments and model config into it.
        super().setup(args, state, model)

    def log_artifacts(self, folder: str) -> None:
        """The adapter and config under the run's ``model/`` artifacts."""
        self._ml_flow.log_artifacts(folder, artifact_path="model")

    def finish(self) -> None:
        """Flush the asynchronous metric logging and end the run we started."""
        super().finish()
        mlflow = self._ml_flow
        if hasattr(mlflow, "flush_async_logging"):
            mlflow.flush_async_logging()
        active = mlflow.active_run()
        if active is not None and active.info.run_id == getattr(self, "run_id", None):
            mlflow.end_run()


def _wandb_logged_in() -> bool:
    """Whether W&B has credentials here (else we log offline instead of prompting for a login)."""
    if os.getenv("WANDB_API_KEY"):
        return True
    try:
        import netrc

        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbTracker(_Tracked, WandbCallback):
    """A W&B run in ``<runs>/wandb`` (offline unless W&B is logged in or ``WANDB_MODE`` says)."""

    tracker = "wandb"

    def setup(self, args, state, model, **kwargs):
        wandb = self._wandb
        self._started = False
        if state.is_world_process_zero and wandb.run is None:
            directory = os.getenv("WANDB_DIR") or self.root
            os.makedirs(directory, exist_ok=True)
            wandb.init(project=os.getenv("WANDB_PROJECT") or PROJECT, name=self.tracking.run_name,
                       dir=directory, mode=os.getenv("WANDB_MODE") or ("online" if _wandb_logged_in() else "offline"),
                       config=self.tracking.params,
                       tags=[f"{k}:{v}"[:64] for k, v in self.tracking.tags.items()])
            self._started = True
        super().setup(args, state, model, **kwargs)
        run = wandb.run
        if run is not None:
            where = os.path.dirname(run.dir)
            url = getattr(run, "url", None)
            self.location = f"{where} ({url})" if url else where

    def log_artifacts(self, folder: str) -> None:
        """The adapter and config as a ``model`` artifact."""
        artifact = self._wandb.Artifact(f"{self.tracking.run_name}-model", type="model")
        artifact.add_dir(folder)
        self._wandb.run.log_artifact(artifact)

    def finish(self) -> None:
        """End the run we started (HF's callback never ends W&B runs)."""
        super().finish()
        if getattr(self, "_started", False) and self._wandb.run is not None:
            self._wandb.finish()


class TrackioTracker(_Tracked, TrackioCallback):
    """A Trackio run in its local store (``TRACKIO_DIR``; project ``llm_magic``)."""

    tracker = "trackio"

    def setup(self, args, state, model, **kwargs):
        # Our own trackio.init instead of HF's: HF's passes embed=True, which in a notebook starts
        # a local dashboard server on every run, and cannot pass the config and tags at init.
        trackio = self._trackio
        if state.is_world_process_zero:
            # lazy: trackio is an optional extra ([trackio])
            from trackio.utils import TRACKIO_DIR

            project = os.getenv("TRACKIO_PROJECT") or PROJECT
            trackio.init(project=project, name=self.tracking.run_name, space_id=args.trackio_space_id,
                         resume="allow", embed=False,
                         config={**self.tracking.params, **{f"tag.{k}": v for k, v in self.tracking.tags.items()}})
            self._space_id = trackio.context_vars.current_space_id.get()
            trackio.config.update(args.to_dict(), allow_val_change=True)
            self.location = f"project {project} in {self._space_id or TRACKIO_DIR}"
        self._initialized = True

    def log_artifacts(self, folder: str) -> None:
        """The adapter and config as a ``model`` artifact."""
        self._trackio.log_artifact(folder, name=f"{self.tracking.run_name}-model", type="model")


_CLASSES = {cls.tracker: cls for cls in (TensorBoardTracker, MLflowTracker, WandbTracker, TrackioTracker)}


def make_callback(name: str, tracking: Any, root: str) -> _Tracked:
    """The callback of tracker ``name`` for ``tracking``'s run."""
    return _CLASSES[name](tracking, root)
