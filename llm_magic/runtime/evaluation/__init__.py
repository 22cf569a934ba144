"""Evaluation without training: metrics of a model on a split (``%llm_eval``, ``trainer.type: none``).

- ``metrics``: token, text-overlap (BLEU via sacrebleu, ROUGE via rouge-score) and classification
  metrics (scikit-learn);
- ``evaluate``: :func:`evaluate_split` (teacher-forced loss/perplexity/token accuracy and greedy
  generation for text outputs; label mapping for category outputs);
- ``report``: :class:`EvalReport`, shown as tables (``_repr_html_``) or text.

Importing this package is cheap; torch loads when an evaluation runs.
"""
from __future__ import annotations

from llm_magic.runtime.evaluation.report import EvalReport

__all__ = ["EvalReport"]
