"""Fine-tuning in the kernel, built on the Hugging Face ``Trainer`` (``%llm_train``).

- ``settings``: the ``trainer:`` block resolved (:func:`settings_from_config`);
- ``optimizers`` / ``schedulers``: Ludwig optimizer and LR-schedule names mapped to torch,
  bitsandbytes and transformers;
- ``loggers``: the metric-logger Protocol (numbers through ``log`` / ``log_dict``, events through
  ``on_max_steps``, ``on_best_step``, ``on_samples``, ``on_status``), its no-op ``BaseLogger``, a
  text logger and a recording logger;
- ``callbacks`` / ``trainer`` / ``runner``: one run (:func:`~.runner.run_job` on a ``FinetuneJob``): best checkpoint,
  early stopping, stop-and-resume, NaN guard;
- ``runs`` / ``status`` / ``api``: what the session keeps (runs, history) and offers
  (``Session.train``, ``evaluate``, ``stop_training``, ``history``, ``runs``).

Importing this package is cheap; torch and transformers load with the modules that need them.
See ``docs/training.md``.
"""
from __future__ import annotations

from llm_magic.runtime.training.loggers import BaseLogger, MetricLogger, RecordingLogger, TextLogger
from llm_magic.runtime.training.settings import TrainerSettings, settings_from_config

__all__ = ["BaseLogger", "MetricLogger", "RecordingLogger", "TextLogger", "TrainerSettings", "settings_from_config"]
