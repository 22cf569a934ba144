"""Metric functions: teacher-forced token metrics, text-overlap metrics, classification metrics.

BLEU comes from sacrebleu, ROUGE from rouge-score, classification reports and confusion
matrices from scikit-learn; the token metrics are three lines of numpy over next-token
predictions. Every function takes plain lists / arrays and returns plain numbers or DataFrames.
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover - types only
    from types import ModuleType

    import torch

import numpy as np
import pandas as pd

from llm_magic.errors import LlmMagicError

__all__ = [
    "bleu",
    "classification_metrics",
    "exact_match",
    "normalize_answer",
    "perplexity",
    "preprocess_logits_for_metrics",
    "rouge",
    "token_metrics",
]


def _require(module: str, package: str) -> ModuleType:
    """Import an optional metrics package, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise LlmMagicError(
            f"This metric needs the {package!r} package: pip install 'llm-magic[metrics]' "
            f"(or pip install {package})."
        ) from None


def perplexity(loss: float) -> float:
    """exp(mean next-token cross-entropy); inf when the loss is too large to exponentiate."""
    return math.exp(loss) if loss < 700 else math.inf


def preprocess_logits_for_metrics(logits: torch.Tensor | tuple[torch.Tensor, ...],
                                  labels: torch.Tensor) -> torch.Tensor:
    """Keep only the argmax token ids (HF hook), so evaluation does not hold full logits."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def token_metrics(pred_ids: Any, label_ids: Any) -> dict[str, float]:
    """Token and sequence accuracy of next-token predictions on the labelled (target) positions.

    ``pred_ids[:, t]`` is the prediction for ``label_ids[:, t + 1]`` (causal LM shift); positions
    labelled -100 (prompt, padding) do not count. A sequence is correct when all its target tokens are.
    """
    preds = np.asarray(pred_ids)[:, :-1]
    labels = np.asarray(label_ids)[:, 1:]
    mask = labels != -100
    correct = (preds == labels) & mask
    tokens = int(mask.sum())
    rows = mask.any(axis=1)
    row_ok = (correct | ~mask).all(axis=1) & rows
    return {
        "token_accuracy": float(correct.sum() / tokens) if tokens else 0.0,
        "sequence_accuracy": float(row_ok.sum() / rows.sum()) if rows.any() else 0.0,
    }


def compute_token_metrics(eval_prediction: Any) -> dict[str, float]:
    """``compute_metrics`` for the HF Trainer (after :func:`preprocess_logits_for_metrics`)."""
    return token_metrics(eval_prediction.predictions, eval_prediction.label_ids)


def normalize_answer(text: str) -> str:
    """Whitespace-collapsed, stripped text: what exact match compares."""
    return re.sub(r"\s+", " ", str(text)).strip()


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of predictions equal to their reference after :func:`normalize_answer`."""
    if not references:
        return 0.0
    hits = sum(normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references))
    return hits / len(references)


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu, 0-100)."""
    sacrebleu = _require("sacrebleu", "sacrebleu")
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures (rouge-score, 0-1)."""
    rouge_scorer = _require("rouge_score.rouge_scorer", "rouge-score")
    kinds = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=False)
    totals = dict.fromkeys(kinds, 0.0)
    for pred, ref in zip(predictions, references):
        scores = scorer.score(str(ref), str(pred))
        for kind in kinds:
            totals[kind] += scores[kind].fmeasure
    count = max(1, len(references))
    return {kind: total / count for kind, total in totals.items()}


def classification_metrics(predicted: Sequence[str], actual: Sequence[str],
                           labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix (scikit-learn).

    Returns ``{"accuracy": float, "per_class": DataFrame, "confusion": DataFrame}``; rows of the
    confusion matrix are the true labels, columns the predicted ones.
    """
    sk = _require("sklearn.metrics", "scikit-learn")
    accuracy_score, confusion_matrix = sk.accuracy_score, sk.confusion_matrix
    precision_recall_fscore_support = sk.precision_recall_fscore_support

    predicted = [str(p) for p in predicted]
    actual = [str(a) for a in actual]
    order = list(dict.fromkeys([*(labels or []), *actual, *predicted]))
    precision, recall, f1, support = precision_recall_fscore_support(
        actual, predicted, labels=order, zero_division=0
    )
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support}, index=order
    )
    per_class.index.name = "label"
    confusion = pd.DataFrame(
        confusion_matrix(actual, predicted, labels=order),
        index=pd.Index(order, name="actual"), columns=pd.Index(order, name="predicted"),
    )
    return {"accuracy": float(accuracy_score(actual, predicted)), "per_class": per_class,
            "confusion": confusion}
