"""The shared runtime object: one per kernel, holding configs, the model, data and history.

A :class:`Session` is a thin facade. Each method delegates to the module that owns the concept
(``runtime.models``, ``runtime.data``, ``runtime.training``, ``runtime.generation``,
``runtime.persistence``, ``runtime.distributed``), handing it the parts it needs. Those modules
import torch and transformers inside their functions, so importing this module (or creating a
session) does not; ``tests/test_imports.py`` keeps the imports one way (nothing below imports this).
"""
from __future__ import annotations

import os
import shutil
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.config import LLMConfig, load_config
from llm_magic.runtime.data.preview import build_preview
from llm_magic.runtime.distributed import export_script as write_job_folder
from llm_magic.runtime.distributed.launch import train_distributed
from llm_magic.runtime.generation.runner import generate as generate_text
from llm_magic.runtime.generation.runner import predict as predict_rows
from llm_magic.runtime.generation.state import GenerationState
from llm_magic.runtime.interrupts import deferred_interrupts
from llm_magic.runtime.models.manager import ModelManager
from llm_magic.runtime.models.shape import check_model_shape
from llm_magic.runtime.persistence.export import export_model, needs_merge
from llm_magic.runtime.persistence.load import prepare_load
from llm_magic.runtime.persistence.merge import merge_model
from llm_magic.runtime.persistence.save import merges_on_save, save_model
from llm_magic.runtime.persistence.state import PersistenceState, restore_training_state, training_results
from llm_magic.runtime.persistence.upload import upload_run
from llm_magic.runtime.training.api import evaluate as evaluate_split
from llm_magic.runtime.training.api import stop_training as stop_run
from llm_magic.runtime.training.api import train as train_here
from llm_magic.runtime.settings import Settings
from llm_magic.runtime.training.runs import RunsTable, TrainingState, training_state

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable, Sequence

    import pandas as pd

    from llm_magic.runtime.data.preview import PromptPreview
    from llm_magic.runtime.data.sources import DataSource, PathLike
    from llm_magic.runtime.distributed.script import ExportReport as JobFolderReport
    from llm_magic.runtime.evaluation.report import EvalComparison, EvalReport
    from llm_magic.runtime.generation.result import GenerationResult
    from llm_magic.runtime.models.info import ModelInfo
    from llm_magic.runtime.models.loader import LoadedModel
    from llm_magic.runtime.models.manager import ReloadPlan
    from llm_magic.runtime.persistence.export import ExportReport
    from llm_magic.runtime.persistence.load import LoadReport
    from llm_magic.runtime.persistence.merge import MergeReport
    from llm_magic.runtime.persistence.save import SaveReport
    from llm_magic.runtime.persistence.state import TrainingResults
    from llm_magic.runtime.persistence.upload import UploadReport
    from llm_magic.runtime.training.loggers import MetricLogger
    from llm_magic.runtime.training.runs import RunRecord

DEFAULT_CONFIG_NAME = "default"


class Session:
    """The kernel's runtime state: named configs, the loaded model, bound data, training history.

    Configs are stored by name; the last one set is current (:attr:`config`). Storing a config
    never loads a model by itself: the model loads on first use (or :meth:`load_model`), and when
    one is loaded already it is reconciled with the new config, reloading only what changed.

    The state is held in typed parts: the configs, :attr:`models` (the loaded model bundle),
    :attr:`training` (runs, history, the job in progress), :attr:`generation` and
    :attr:`persistence`. A command builds what it needs beside the current parts and swaps it in
    under :attr:`lock` only once all of it succeeded (:meth:`set_config`, :meth:`swap_in`), so a
    failure or a Ctrl-C leaves the session as it was.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        #: The user's settings (output folder, stop grace, cache); see :meth:`configure`.
        self.settings = settings or Settings()
        self._configs: dict[str, LLMConfig] = {}
        self.config_name: str | None = None
        #: The model manager (``runtime.models.manager.ModelManager``), created on first use.
        self._models: ModelManager | None = None
        #: Data bound to the session by the last ``--data`` (a DataFrame, Dataset or path).
        self.data: DataSource | None = None
        #: Why the session cannot start another job now (e.g. a background training run), or None.
        self.busy_reason: str | None = None
        self.lock = threading.RLock()
        # The feature parts, created on first use (their modules stay unimported until then).
        self._training: TrainingState | None = None
        self._generation: GenerationState | None = None
        self._persistence: PersistenceState | None = None

    # ----------------------------------------------------------------------------- settings
    def configure(self, settings: Settings) -> None:
        """Use ``settings`` from now on (``%config LlmMagics...`` pushes them in here).

        A run in progress keeps the folder it started in; the next run uses the new one.
        """
        if not isinstance(settings, Settings):
            raise TypeError(f"configure() takes a llm_magic.runtime.settings.Settings, not {type(settings).__name__}")
        with self.lock:
            self.settings = settings
            if self._training is not None:
                self._training.output_root = settings.output_root

    # ----------------------------------------------------------------------------- parts
    @property
    def training(self) -> TrainingState:
        """Training's part: runs, step history, the job in progress (``runtime.training.runs``)."""
        if self._training is None:
            self._training = TrainingState(output_root=self.settings.output_root)
        return self._training

    @property
    def generation(self) -> GenerationState:
        """Generation's part: the last results and the few-shot retriever cache."""
        if self._generation is None:
            self._generation = GenerationState()
        return self._generation

    @property
    def persistence(self) -> PersistenceState:
        """Persistence's part: the last folder written, the merged model, the restored run."""
        if self._persistence is None:
            self._persistence = PersistenceState()
        return self._persistence

    # ----------------------------------------------------------------------------- configs
    @property
    def config(self) -> LLMConfig | None:
        """The current config (the last one stored), or None before any ``%%llm_config``."""
        return self._configs.get(self.config_name) if self.config_name else None

    @property
    def configs(self) -> dict[str, LLMConfig]:
        """All named configs stored in this session (a copy)."""
        return dict(self._configs)

    def set_config(self, config: LLMConfig | str | dict, name: str | None = None, *,
                   load: bool = False) -> ReloadPlan | None:
        """Store ``config`` under ``name`` and make it current.

        Text and dicts are validated first (:func:`llm_magic.load_config`); an invalid config
        raises :class:`~llm_magic.ConfigError` and leaves the session untouched. When a model is
        loaded it is reconciled with the new config; the returned value describes what was
        reloaded (see ``ModelManager.sync``), or None when no model is loaded. ``load=True``
        also loads the model now when none is loaded.

        All or nothing: the model for the new config is built before the config is stored, and
        on any error (or Ctrl-C) the session keeps its config and model, adapter weights
        included. When the change would replace weights trained in this session that are not
        saved anywhere, they are saved first (``<output_root>/<run id>/kept-N``) and the returned
        plan says where (``plan.kept``), so ``%llm_load`` brings them back.
        """
        if not isinstance(config, LLMConfig):
            config = load_config(config)
        self.check_idle("change the config")
        check_model_shape(config)  # e.g. adapter.r larger than the layers: refused with its line
        name = name or self.config_name or DEFAULT_CONFIG_NAME
        change = None
        with self.lock:
            if self._models is not None and self._models.loaded:
                plan = self._models.plan(config)
                kept, undo = None, None
                if plan.action in ("rewrap", "reload"):
                    self._models.check(config)  # an obviously bad config saves nothing
                    kept, undo = self._keep_trained_weights()
                try:
                    change = self._models.sync(config)
                except BaseException:
                    # A failed command leaves the files as they were: no kept-N copy of weights
                    # the session still holds (the next change that works saves them again).
                    if undo is not None:
                        with deferred_interrupts():
                            undo()
                    raise
                if kept:
                    change = replace(change, kept=kept)
            elif load:
                self.models.ensure(config)
            with deferred_interrupts():
                self._configs[name] = config
                self.config_name = name
        return change

    def _keep_trained_weights(self) -> tuple[str | None, Callable[[], None] | None]:
        """Save the loaded weights if training changed them and no folder holds them yet.

        Returns the folder that holds them (None when nothing trained is at stake) and, when
        this call wrote it, a function that removes it again and forgets it (None otherwise).
        """
        bundle = self._models.loaded if self._models is not None else None
        if bundle is None or not bundle.trained_by:
            return (bundle.kept_in if bundle is not None else None), None
        if bundle.kept_in:
            return bundle.kept_in, None
        root = os.path.abspath(os.path.join(self.training.output_root, bundle.trained_by))
        number = 1
        while os.path.exists(os.path.join(root, f"kept-{number}")):
            number += 1
        folder = os.path.join(root, f"kept-{number}")
        # The highest folder the save creates, and the times of the one above it (removing an
        # entry changes them): what undoing the save puts back.
        created = folder
        while not os.path.exists(os.path.dirname(created)):
            created = os.path.dirname(created)
        parent = os.path.dirname(created)
        times = os.stat(parent)
        last_folder = self.persistence.last_folder

        def undo() -> None:
            shutil.rmtree(created, ignore_errors=True)
            os.utime(parent, ns=(times.st_atime_ns, times.st_mtime_ns))
            self.persistence.last_folder = last_folder
            # The bundle the failed change left (put back, or rebuilt) no longer has a copy.
            if self._models is not None and self._models.loaded is not None:
                self._models.loaded.kept_in = None

        # _save records the folder in bundle.kept_in: a retry does not save again.
        try:
            report = self._save(self.require_config(), bundle, folder, checkpoint=False)
        except BaseException:
            undo()  # a save that failed half-way leaves nothing either
            raise
        return str(report.path), undo

    def swap_in(self, models: ModelManager, config: LLMConfig, name: str, action: str,
                also: Callable[[], None] | None = None) -> None:
        """Make ``models`` and ``config`` (stored as ``name``) current in one step; free the old model.

        For commands that built a whole new model beside the current one (``%llm_load``).
        ``also`` is a function that updates the other parts and cannot fail. The session must
        be idle for ``action`` (checked under the lock); the swap itself is shielded from Ctrl-C.
        """
        with self.lock:
            self.check_idle(action)
            with deferred_interrupts():
                previous, self._models = self._models, models
                self._configs[name] = config
                self.config_name = name
                if also is not None:
                    also()
        if previous is not None and previous is not models:
            with deferred_interrupts():  # the swap is done: freeing the old model must not undo it
                try:
                    previous.unload()
                except Exception:  # noqa: BLE001 - only memory is at stake; the new model is in place
                    pass

    def use_config(self, name: str) -> LLMConfig:
        """Make the stored config ``name`` current again."""
        if name not in self._configs:
            known = ", ".join(sorted(self._configs)) or "none yet"
            raise LlmMagicError(f"No config named {name!r} in this session (stored: {known}).")
        return self.set_config(self._configs[name], name) or self._configs[name]

    def require_config(self) -> LLMConfig:
        """The current config, or a clear error telling the user to write one."""
        if self.config is None:
            raise LlmMagicError(
                "No config yet. Write one in a %%llm_config cell (or call "
                "llm_magic.get_session().set_config(...)) first."
            )
        return self.config

    def check_idle(self, action: str) -> None:
        """Raise a clear error if a background job (e.g. training) keeps us from ``action``."""
        if self.busy_reason:
            raise LlmMagicError(
                f"Cannot {action} now: {self.busy_reason}. Wait for it to finish, or stop it "
                "(the widget's Stop button, or %llm_train --stop)."
            )

    # ----------------------------------------------------------------------------- model
    @property
    def models(self) -> ModelManager:
        """The model manager (created lazily; importing it does not import torch)."""
        if self._models is None:
            self._models = ModelManager()
        return self._models

    def load_model(self) -> LoadedModel:
        """Load (or reconcile) the model for the current config and return the loaded bundle."""
        return self.models.ensure(self.require_config())

    def info(self) -> ModelInfo:
        """A summary of the loaded model: parameters, trainable parameters, dtype, device, memory."""
        self.load_model()
        return self.models.info()

    def unload_model(self) -> None:
        """Free the loaded model and its memory."""
        self.check_idle("unload the model")
        if self._models is not None:
            self._models.unload()

    # ----------------------------------------------------------------------------- training
    def train(self, data: DataSource | None = None, resume: bool | str = False, background: bool = False,
              sample_every: int | None = None,
              loggers: Sequence[MetricLogger] | Callable[[RunRecord], Sequence[MetricLogger]] | None = None,
              processes: int | None = None, report_to: str | Iterable[str] | None = None,
              seed: int | None = None) -> RunRecord:
        """Fine-tune on ``data`` (default: the bound data) as ``trainer:`` says; returns the run record.

        ``trainer.type: none`` evaluates the test split instead. ``resume`` continues the last
        stopped run from its checkpoint (or from a ``checkpoint-N`` folder given as a path);
        ``background`` trains in a thread and returns at once. ``loggers`` are metric loggers
        (``runtime.training.loggers``; default: a text progress line). ``processes`` > 1 trains
        data-parallel on that many processes as ``backend.strategy`` says (``runtime.distributed``).
        ``report_to`` names experiment trackers (``"tensorboard,mlflow,wandb,trackio"``, any
        subset, or ``"none"``, the default; ``runtime.training.tracking``).
        ``seed`` overrides the config's ``random_seed`` for this run.
        """
        if processes is not None and processes != 1:
            if seed is not None:
                raise LlmMagicError("--seed with --processes: set `random_seed: N` in the config instead "
                                    "(every process reads it from the job's config).")
            return train_distributed(self, data, processes=processes, resume=resume, sample_every=sample_every,
                                     background=background, loggers=loggers, report_to=report_to,
                                     stop_grace=self.settings.stop_grace, cache_dir=self.settings.cache_dir)
        return train_here(self, data, resume=resume, background=background, sample_every=sample_every,
                          loggers=loggers, report_to=report_to, seed=seed)

    def export_script(self, directory: PathLike, **options: Any) -> JobFolderReport:
        """Write a ``train.py`` job folder for ``accelerate launch`` (``runtime.distributed.export_script``)."""
        self.check_idle("write a training script (it copies the current weights)")
        return write_job_folder(self, directory, **options)

    def evaluate(self, data: DataSource | None = None, split: str = "test",
                 compare: bool = False) -> EvalReport | EvalComparison:
        """Metrics of the current model on ``split`` of ``data`` (an ``EvalReport``); weights unchanged.

        ``compare``: the base model (adapter off) beside the tuned one (an ``EvalComparison``).
        """
        return evaluate_split(self, data, split=split, compare=compare)

    def stop_training(self, wait: float | None = None) -> bool:
        """Stop the run in progress after its current step (checkpointed for ``resume``)."""
        return stop_run(self, wait=wait)

    @property
    def history(self) -> pd.DataFrame:
        """Every logged training step of this session, as a pandas DataFrame."""
        return training_state(self).history_frame()

    @property
    def runs(self) -> RunsTable:
        """The training/evaluation runs of this session side by side (a ``RunsTable``)."""
        return RunsTable(training_state(self).runs)

    # ----------------------------------------------------------------------------- data
    def bind_data(self, data: DataSource | None) -> None:
        """Bind ``data`` (DataFrame, ``datasets.Dataset`` or file path) as the session's default data."""
        self.data = data

    def preview(self, data: DataSource | None = None, row: int = 0, split: str | None = None) -> PromptPreview:
        """A ``runtime.data.PromptPreview`` of ``data`` (default: the bound data) under the current config."""
        return build_preview(self, data=data, row=row, split=split)

    # ----------------------------------------------------------------------------- generation
    def generate(self, text: str, raw: bool = False, *, seed: int | None = None,
                 on_text: Callable[[str], None] | None = None, **overrides: Any) -> GenerationResult:
        """Generate an answer to ``text`` (through the prompt template unless ``raw``).

        ``overrides`` are ``generation`` keys for this call only (``temperature=0.7``, ...);
        ``on_text(text_so_far)`` sees the answer grow. Returns a ``GenerationResult``.
        """
        return generate_text(self, text, raw=raw, seed=seed, on_text=on_text, **overrides)

    def predict(self, data: DataSource, batch_size: int | None = None, **overrides: Any) -> pd.DataFrame:
        """Generate for every row of ``data`` in batches; a DataFrame of inputs, prompts, outputs.

        Stopping it (KeyboardInterrupt, the notebook's stop button) keeps the rows of the batches
        already finished: the frame holds only those, ``frame.attrs["interrupted"]`` is True, and
        a ``UserWarning`` says how many of how many rows were done.
        """
        seed = overrides.pop("seed", None)
        return predict_rows(self, data, batch_size=batch_size, seed=seed, overrides=overrides)

    # ----------------------------------------------------------------------------- persistence
    def save(self, directory: PathLike, *, checkpoint: bool = True, overwrite: bool = False) -> SaveReport:
        """Save config, weights, tokenizer, history, metrics and a model card to ``directory``.

        ``overwrite`` writes into a non-empty folder llm_magic did not write (keeping its files).
        """
        config = self.require_config()
        self.check_idle("save the model")
        return self._save(config, self.load_model(), directory, checkpoint=checkpoint, overwrite=overwrite)

    def _save(self, config: LLMConfig, bundle: LoadedModel, directory: PathLike, *, checkpoint: bool,
              overwrite: bool = False) -> SaveReport:
        """Write the loaded ``bundle`` (saving loads nothing) and record where it went."""
        merged = self._merge(config, bundle) if merges_on_save(config) else None
        report = save_model(directory, config=config, bundle=bundle, config_name=self.config_name,
                            results=self._results(checkpoint=checkpoint), merged=merged,
                            overwrite=overwrite)
        self.persistence.last_folder = report.path
        if report.kind != "config":
            bundle.kept_in = str(report.path)  # these exact weights are now in a folder
        return report

    def _results(self, *, checkpoint: bool) -> TrainingResults:
        """Training's results as a save or an export writes them (``persistence.state.TrainingResults``)."""
        return training_results(self.training, self.persistence, self.data, checkpoint=checkpoint)

    def load(self, directory: PathLike, name: str | None = None) -> LoadReport:
        """Restore a folder written by :meth:`save` into this session (all or nothing).

        The config is stored under ``name`` (default: the name it was saved under). Loading
        replaces the session's model; on any error the session is left exactly as it was.
        """
        self.check_idle("load a saved model")
        prepared = prepare_load(directory, name)
        try:
            # Checked again under the lock: a job may have started while we were loading.
            self.swap_in(prepared.models, prepared.config, prepared.config_name, "load a saved model",
                         lambda: restore_training_state(self.training, self.persistence, prepared.restored,
                                                        prepared.rows, prepared.record))
        except BaseException:
            if self._models is not prepared.models:  # not swapped in: free what was built for nothing
                prepared.models.unload()
            raise
        return prepared.report

    def merge(self) -> MergeReport:
        """Merge the adapter into full-precision base weights (kept for :meth:`export`)."""
        config = self.require_config()
        self.check_idle("merge the adapter")
        return self._merge(config, self.load_model())

    def _merge(self, config: LLMConfig, bundle: LoadedModel) -> MergeReport:
        """Merge ``bundle``'s adapter, reusing the kept merge while the adapter is unchanged; keep it
        (a second model's worth of memory until the next merge or load replaces it)."""
        report = merge_model(config, bundle, cached=self.persistence.merged)
        self.persistence.merged = report
        return report

    def export(self, directory: PathLike) -> ExportReport:
        """Write a standard Hugging Face model folder (adapter merged) to ``directory``."""
        config = self.require_config()
        self.check_idle("export the model")
        bundle = self.load_model()
        merged = self._merge(config, bundle) if needs_merge(config, bundle) else None
        report = export_model(directory, config=config, bundle=bundle, merged=merged,
                              results=self._results(checkpoint=False))
        self.persistence.last_folder = report.path
        return report

    def upload(self, repo_id: str, directory: PathLike | None = None, *, private: bool = False,
               commit_message: str | None = None) -> UploadReport:
        """Upload ``directory`` (default: the last saved/exported folder) to the Hugging Face Hub."""
        self.check_idle("upload a model folder")
        return upload_run(repo_id, directory, self.persistence.last_folder, private=private,
                          commit_message=commit_message)


_SESSION: Session | None = None
_SESSION_LOCK = threading.Lock()


def get_session() -> Session:
    """The kernel's session (created on first call)."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = Session()
        return _SESSION


def load_session(directory: PathLike) -> Session:
    """Restore a run folder into the kernel's session (:func:`get_session`) and return it."""
    session = get_session()
    session.load(directory)
    return session


def reset_session() -> Session:
    """Replace the kernel's session with a fresh one (tests use this); frees any loaded model.

    The fresh session has the default settings: one test's settings never reach the next.
    """
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is not None and _SESSION._models is not None:
            _SESSION._models.unload()
        _SESSION = Session()
        return _SESSION
