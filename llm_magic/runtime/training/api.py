"""Training and evaluation as the session offers them (``Session.train`` / ``evaluate`` / ...).

These functions glue the pieces: the current config and loaded model, the data pipeline, the
run itself (:mod:`.runner`), the final test-split evaluation, the run records and history
(:mod:`.runs`). They know nothing of IPython or widgets: the caller passes metric loggers.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.data import model_context_length, prepare_data
from llm_magic.runtime.evaluation.report import EvalComparison
from llm_magic.runtime.generation.streaming import thread_count
from llm_magic.runtime.models.adapters import detach_adapter
from llm_magic.runtime.secrets import redact
from llm_magic.runtime.training.data import from_prepared
from llm_magic.runtime.training.job import FinetuneJob, config_dict, open_record, plan_job, resolve_data
from llm_magic.runtime.training.loggers import BaseLogger, MetricLogger, TextLogger, metric_loggers
from llm_magic.runtime.training.runs import RunRecord, TrainingState, recorded, training_state
from llm_magic.runtime.training.settings import scale_for_processes, settings_from_config
from llm_magic.runtime.training.status import TrainingStatus
from llm_magic.runtime.training.tracking import Tracking, parse_report_to, write_artifacts

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Iterable

    import torch

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.data.sources import DataSource
    from llm_magic.runtime.evaluation.report import EvalReport
    from llm_magic.runtime.models.loader import LoadedModel
    from llm_magic.runtime.session import Session
    from llm_magic.runtime.training.data import SplitData, TrainingData
    from llm_magic.runtime.training.settings import TrainerSettings

__all__ = ["announce_end", "dispatch", "evaluate", "evaluate_model", "final_test_report", "start_run", "status",
           "stop_training", "train"]


def _prepare(config: LLMConfig, bundle: LoadedModel, data: DataSource, seed: int | None = None,
             cache_dir: str | None = None) -> TrainingData:
    """Tokenized splits for ``config`` (``runtime.data.prepare_data``) as :class:`TrainingData`.

    ``cache_dir``: the session's ``Settings.cache_dir`` (where a retrieval index is cached).
    """
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.models.seeding import config_seed

    context = model_context_length(bundle.tokenizer, bundle.model)
    seed = config_seed(config) if seed is None else seed
    prepared = prepare_data(config, bundle.tokenizer, data, context_length=context, seed=seed,
                            cache_dir=cache_dir)
    return from_prepared(prepared, bundle.tokenizer, config)


def _bind(session: Session, data: DataSource) -> None:
    """Remember ``data`` as the session's default for later calls (after it proved usable)."""
    session.bind_data(data)


def train(session: Session, data: DataSource | None = None, *, resume: bool | str = False, background: bool = False,
          sample_every: int | None = None,
          loggers: Sequence[MetricLogger] | Callable[[RunRecord], Sequence[MetricLogger]] | None = None,
          report_to: str | Iterable[str] | None = None, seed: int | None = None) -> RunRecord:
    """Fine-tune the session's model on ``data`` (or evaluate it, for ``trainer.type: none``).

    ``loggers`` are metric loggers, or a function of the new :class:`RunRecord` returning them
    (default: a :class:`TextLogger`). ``resume`` as for :func:`.job.resume_point`. ``report_to``
    names experiment trackers (``"tensorboard,mlflow"``, a list, or ``"none"``; see
    :mod:`.tracking`). ``seed`` (default: the config's ``random_seed``) seeds Python, NumPy and
    torch and drives the split, shuffling, dropout and, while the adapter is untrained, its
    initial weights. Returns the run's record (at once, still running, when ``background``).
    """
    session.check_idle("start training")
    config = session.require_config()
    if config.trainer.type == "none":
        trackers = parse_report_to(report_to)  # before anything happens: a missing tracker changes nothing
        if resume:
            raise LlmMagicError("--resume needs trainer.type: finetune; this config only evaluates (type: none).")
        return _evaluate_run(session, config, data, loggers, trackers=trackers)
    job = plan_job(session, data, resume=resume, report_to=report_to, seed=seed, sample_every=sample_every)
    state = training_state(session)
    bundle = session.load_model()
    _seed_run(bundle, job.config, job.seed)
    prepared = _prepare(job.config, bundle, job.source, job.seed, job.cache_dir)
    job, record = open_record(state, job.replace(prepared=prepared, run_data=None))
    record.train_rows = len(prepared.train)
    loggers = start_run(state, record, loggers)

    record.config["random_seed"] = job.seed  # the record says the seed the run used (--seed wins)

    def execute() -> None:
        _execute_finetune(job, bundle, record, state, loggers)

    return dispatch(session, state, record, execute, data=job.data, background=background,
                    busy=f"training run {record.run_id} is in progress")


def _seed_run(bundle: LoadedModel, config: LLMConfig, seed: int | None) -> int:
    """Seed Python, NumPy and torch for a run; return the seed (``seed`` or ``random_seed``).

    An adapter still at its initial weights is re-drawn under a different seed (detach, wrap
    again under ``seeded``), so the weights a run starts from depend only on its seed; trained or
    loaded weights (their fingerprint changed) are never touched.
    """
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.models.seeding import config_seed, fingerprint, seed_everything

    seed = config_seed(config) if seed is None else int(seed)
    if seed < 0:
        raise LlmMagicError(f"--seed {seed}: a seed is a whole number >= 0, e.g. --seed 42.")
    fresh = bundle.initial_fingerprint is not None and fingerprint(bundle.model) == bundle.initial_fingerprint
    if fresh and bundle.adapter_seed != seed:
        # lazy: pulls torch and transformers; %load_ext stays light
        from llm_magic.runtime.models.loader import wrap_adapter

        bundle.model = detach_adapter(bundle.model)
        wrap_adapter(bundle, bundle.config, seed=seed)
    seed_everything(seed)
    return seed


def dispatch(session: Session, state: TrainingState, record: RunRecord, execute: Callable[[], None], *,
             data: DataSource, background: bool, busy: str) -> RunRecord:
    """Run ``execute`` (which fills ``record``) now, or in a background thread; return ``record``.

    In the foreground a failed run raises its error; either way ``data`` becomes the session's
    bound data once the run has started. In the background the session reports ``busy`` until
    the thread ends.
    """
    if not background:
        # lazy: pulls torch and transformers; %load_ext stays light
        from llm_magic.runtime.training.runner import SigintToStop

        try:
            # Ctrl-C anywhere in the run (evaluation and record updates included) asks it to
            # stop after the current step, never cuts a checkpoint or the record in half.
            with SigintToStop(state.stop_event):
                execute()
        finally:
            state.current = None
        if record.status == "failed":
            raise LlmMagicError(record.error or "Training failed.")
        _bind(session, data)
        return record
    _bind(session, data)
    session.busy_reason = busy
    # lazy: pulls torch; %load_ext stays light
    import torch

    state.thread = threading.Thread(target=_background, args=(session, state, execute, torch.get_num_threads()),
                                    name=f"llm_magic-train-{record.run_id}", daemon=True)
    state.thread.start()
    return record


def start_run(state: TrainingState, record: RunRecord,
              loggers: Sequence[MetricLogger] | Callable[[RunRecord], Sequence[MetricLogger]] | None,
              ) -> list[MetricLogger]:
    """Make ``record`` the current run of ``state`` and return its loggers.

    ``loggers`` is a list, a factory taking the run record (the widget wants the run id), or None
    for a text log; a logger that keeps the record's progress current is always added.
    """
    if callable(loggers):
        loggers = loggers(record)
    loggers = metric_loggers(loggers) if loggers is not None else [TextLogger()]
    loggers.append(RecordProgress(record))
    state.stop_event.clear()
    state.current, state.loggers = record, loggers
    return loggers


class RecordProgress(BaseLogger):
    """A metric logger that keeps the run record's progress current (for ``%llm_status``)."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def _at(self, step: int) -> None:
        self.record.global_step = max(self.record.global_step, step)

    def log(self, name: str, value: float, step: int) -> None:
        """Track the step."""
        self._at(step)

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        """Track the step."""
        self._at(step)

    def on_max_steps(self, max_steps: int, step: int) -> None:
        """Track the total steps."""
        self._at(step)
        self.record.max_steps = int(max_steps)

    def on_best_step(self, best_step: int, step: int) -> None:
        """Track the best step."""
        self._at(step)
        self.record.best_step = int(best_step)

    def on_samples(self, samples: Sequence[Mapping[str, str]], step: int) -> None:
        """Track the step."""
        self._at(step)

    def on_status(self, status: str, step: int) -> None:
        """Track the step."""
        self._at(step)


def _background(session: Session, state: TrainingState, execute: Callable[[], None], threads: int) -> None:
    # OpenMP's thread count is per-thread state: the training thread takes the caller's count.
    try:
        with thread_count(threads):
            execute()
    finally:
        state.current = None
        session.busy_reason = None


def _execute_finetune(job: FinetuneJob, bundle: LoadedModel, record: RunRecord, state: TrainingState,
                      loggers: list[MetricLogger]) -> None:
    """The kernel executor's body: run ``job`` with the HF Trainer in this process, fill ``record``."""
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.training.runner import run_job

    processes = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun / accelerate launch
    record.notes = _config_notes(job.settings, job.config, processes)
    settings, scaled = scale_for_processes(job.settings, processes)
    if scaled:
        record.notes.append(scaled)
        job = job.replace(settings=settings)  # the planned job stays as planned
    with recorded(record, loggers), tracked(job.trackers, record, state, bundle.model) as tracking:
        result = run_job(job, bundle.model, bundle.tokenizer, state, loggers=loggers,
                         callbacks=tracking.callbacks if tracking else ())
        if result.global_step:
            # The bundle's weights are now trained ones that no folder holds yet.
            bundle.trained_by, bundle.kept_in = record.run_id, None
        record.status, record.global_step, record.max_steps = result.status, result.global_step, result.max_steps
        record.best_step, record.best_metric, record.checkpoint = result.best_step, result.best_metric, result.checkpoint
        record.notes += result.notes
        if result.best_metric is not None:
            record.metrics[f"best_validation_{job.settings.validation_metric}"] = result.best_metric
        report = final_test_report(job, bundle) if result.status != "stopped" else None
        if report is not None:
            metrics = {f"test_{k}": v for k, v in report.metrics.items()}
            record.report = report
            record.metrics.update(metrics)
            for logger in loggers:
                logger.log_dict(metrics, result.global_step)
            if tracking:
                tracking.log(metrics, result.global_step)
        if result.status == "stopped":
            record.notes.append(
                f"Stopped at step {result.global_step}; the weights reached so far are kept and a "
                f"checkpoint is in {result.checkpoint}. Continue with %llm_train --resume."
            )
        announce_end(record, loggers)


def announce_end(record: RunRecord, loggers: Sequence[MetricLogger]) -> None:
    """Tell every logger how the run ended (both executors, once the record holds the outcome)."""
    for logger in loggers:
        logger.on_status(record.status, record.global_step)


def final_test_report(job: FinetuneJob, bundle: LoadedModel) -> EvalReport | None:
    """The test-split report of ``bundle``'s model for ``job``, as ``%llm_eval`` computes it; None without one.

    On ``job.prepared`` when this process trained (the kernel executor), else on ``job.data``
    prepared here, as ``evaluate_model`` does (the multi-process executor, on the weights it took
    back; the same split, seed and batch size).
    """
    prepared = job.prepared if job.prepared is not None else _prepare(job.config, bundle, job.data,
                                                                      cache_dir=job.cache_dir)
    part = prepared.split("test")
    return _evaluate_part(job.config, bundle, prepared, part, "test") if part is not None else None


def _evaluate_part(config: LLMConfig, bundle: LoadedModel, prepared: TrainingData, part: SplitData, split: str,
                   rewards: bool = True) -> EvalReport:
    """``evaluate_split`` of ``bundle``'s model on ``part`` (one split of ``prepared``) with the trainer's batch size."""
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.evaluation.evaluate import evaluate_split

    settings = settings_from_config(config.trainer)
    return evaluate_split(bundle.model, bundle.tokenizer, config, part, name=split,
                          collator=prepared.collator, batch_size=max(1, settings.eval_batch_size),
                          add_special_tokens=prepared.add_special_tokens, rewards=rewards)


def _config_notes(settings: TrainerSettings, config: LLMConfig, processes: int = 1) -> list[str]:
    """The run's notes on keys the user set that do nothing (each key once).

    ``config.without_effect()`` covers every such key (the trainer's inert ones included); a
    trainer key of ``settings.inert_set`` it does not list is still named, except
    ``learning_rate_scaling`` on several ``processes``, where it applies.
    """
    unused = config.without_effect()
    paths = {path for path, _, _ in unused}
    inert = [key for key in settings.inert_set if f"trainer.{key}" not in paths
             and not (key == "learning_rate_scaling" and processes > 1)]
    notes = [f"Not applied here (no effect in one process): {', '.join(inert)}."] if inert else []
    if unused:
        notes.append("Accepted without effect (Ludwig compatibility): "
                     + "; ".join(f"{path}: {value!r} ({reason})" for path, value, reason in unused) + ".")

    return [redact(note) for note in notes]


def _evaluate_run(session: Session, config: LLMConfig, data: DataSource | None,
                  loggers: Sequence[MetricLogger] | Callable[[RunRecord], Sequence[MetricLogger]] | None,
                  split: str = "test", trackers: Sequence[str] = ()) -> RunRecord:
    state = training_state(session)
    report = evaluate(session, data, split=split)
    record = RunRecord(run_id=state.new_run_id(), kind="evaluate", config=config_dict(config),
                       status="evaluated", report=report,
                       metrics={f"{split}_{k}": v for k, v in report.metrics.items()})
    if trackers:
        # No Trainer here: the same HF callbacks are driven by hand (begin, one log, finish).
        with tracked(trackers, record, state, None) as tracking:
            tracking.begin(session.load_model().model)
            tracking.log(record.metrics, 0)
    record.finished = time.time()
    state.runs.append(record)
    return record


@contextlib.contextmanager
def tracked(trackers: Sequence[str], record: RunRecord, state: TrainingState,
            model: torch.nn.Module | None) -> Iterator[Tracking | None]:
    """The run's :class:`~.tracking.Tracking` (None without trackers), closed however the body ends.

    A body that completes also attaches the artifacts (adapter weights of ``model``, config).
    Only rank 0 of a multi-process job reports (the others get None).
    """
    if not trackers or int(os.environ.get("RANK", "0")) != 0:
        yield None
        return

    # A process of a multi-process job reports under the notebook's run name and runs folder.
    name, root = state.tracking_name or record.run_id, state.tracking_root or state.output_root
    folder = os.path.join(root, name) if state.tracking_name else (record.output_dir or os.path.join(root, name))
    tracking = Tracking(trackers, run_name=name, folder=folder, root=root, config=record.config)
    try:
        yield tracking
        if record.status != "failed":
            tracking.log_artifacts(write_artifacts(model, record.config, os.path.join(folder, "tracked")))
    finally:
        try:
            tracking.finish()
        finally:
            record.tracking.update(tracking.locations)
            if record.tracking:
                record.notes.append("Reported to " + "; ".join(f"{k}: {v}" for k, v in record.tracking.items()) + ".")


def evaluate(session: Session, data: DataSource | None = None, split: str = "test",
             compare: bool = False) -> EvalReport | EvalComparison:
    """Metrics of the current model on ``split`` of ``data`` (default: the bound data); no training.

    ``compare`` also evaluates the base model (the adapter switched off) and returns an
    :class:`~llm_magic.runtime.evaluation.report.EvalComparison` of the two.
    """
    session.check_idle("evaluate")
    if split not in ("train", "validation", "test"):
        raise LlmMagicError(f"--split {split!r}: use train, validation or test.")
    config = session.require_config()
    data = resolve_data(session, data)
    report = evaluate_model(config, session.load_model(), data, split, compare=compare,
                            cache_dir=session.settings.cache_dir)
    _bind(session, data)
    return report


def evaluate_model(config: LLMConfig, bundle: LoadedModel, data: DataSource, split: str = "test", *,
                   compare: bool = False, cache_dir: str | None = None) -> EvalReport | EvalComparison:
    """The report of ``bundle``'s model on ``split`` of ``data`` prepared for ``config``; weights unchanged.

    What ``%llm_eval`` and a multi-process run's final test evaluation both compute (the same
    split, seed and batch sizes). ``compare`` as for :func:`evaluate`.
    """
    prepared = _prepare(config, bundle, data, cache_dir=cache_dir)
    part = prepared.split(split)
    if part is None:
        raise DataError(
            f"The {split} split is empty. Check preprocessing.split (probabilities or the split "
            "column), pass more data, or evaluate another split with --split."
        )
    model = bundle.model
    if compare and not getattr(model, "peft_config", None):
        raise LlmMagicError(
            "--compare evaluates the base model (adapter off) beside the tuned one, but this config has no "
            "adapter, so both are the same model. Add an adapter (e.g. 'adapter: {type: lora}') and train "
            "it, or drop --compare.")

    def run(rewards: bool = True) -> EvalReport:
        return _evaluate_part(config, bundle, prepared, part, split, rewards=rewards)

    report = run()
    if compare:
        with model.disable_adapter():
            base = run(rewards=False)  # the base against itself has no rewards to show
        report = EvalComparison(base=base, tuned=report)
    return report


def stop_training(session: Session, wait: float | None = None) -> bool:
    """Ask the run in progress to stop after its current step; True if one was running.

    ``wait`` seconds (None: don't wait) to let a background run finish writing its checkpoint.
    """
    state = training_state(session)
    if state.current is None and not state.running:
        return False
    state.stop_event.set()
    if wait and state.thread is not None:
        state.thread.join(wait)
    return True


def status(session: Session) -> TrainingStatus:
    """A :class:`~llm_magic.runtime.training.status.TrainingStatus` of the current or last run."""
    return TrainingStatus.of(training_state(session))
