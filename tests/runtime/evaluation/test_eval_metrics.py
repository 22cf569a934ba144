"""Metric functions on hand-made inputs whose values are known."""
from __future__ import annotations

import math

import numpy as np
import pytest

from llm_magic.runtime.evaluation.metrics import (
    bleu, classification_metrics, exact_match, perplexity, rouge, token_metrics,
)


def test_exact_match_ignores_surrounding_and_repeated_whitespace():
    assert exact_match([" Paris ", "a  b", "x"], ["Paris", "a b", "y"]) == pytest.approx(2 / 3)
    assert exact_match([], []) == 0.0


def test_bleu_and_rouge_bounds():
    refs = ["the cat sat on the mat today", "a quick brown fox jumps high"]
    assert bleu(refs, refs) == pytest.approx(100.0)
    assert bleu(["zz yy xx ww vv uu", "qq rr ss tt oo pp"], refs) == pytest.approx(0.0)
    same = rouge(refs, refs)
    assert same == {"rouge1": pytest.approx(1.0), "rouge2": pytest.approx(1.0), "rougeL": pytest.approx(1.0)}
    half = rouge(["the cat"], ["the cat sat on"])  # P=1, R=0.5 -> F=2/3 for unigrams
    assert half["rouge1"] == pytest.approx(2 / 3)


def test_token_metrics_use_the_causal_shift_and_skip_masked_positions():
    # Position t predicts label t+1; -100 marks the prompt and padding.
    labels = np.array([[-100, -100, 5, 6], [-100, 7, 8, -100]])
    preds = np.array([[0, 5, 6, 9], [7, 1, 0, 0]])
    result = token_metrics(preds, labels)
    assert result["token_accuracy"] == pytest.approx(3 / 4)  # 5,6 right; 7 right, 8 wrong
    assert result["sequence_accuracy"] == pytest.approx(1 / 2)
    assert perplexity(math.log(4.0)) == pytest.approx(4.0) and perplexity(1e4) == math.inf


def test_classification_metrics_match_hand_counts():
    actual = ["pos", "pos", "neg", "neg", "neu"]
    predicted = ["pos", "neg", "neg", "neg", "pos"]
    result = classification_metrics(predicted, actual, labels=["pos", "neg", "neu"])
    assert result["accuracy"] == pytest.approx(3 / 5)
    per_class = result["per_class"]
    assert per_class.loc["pos", "precision"] == pytest.approx(1 / 2)
    assert per_class.loc["pos", "recall"] == pytest.approx(1 / 2)
    assert per_class.loc["neg", "precision"] == pytest.approx(2 / 3)
    assert per_class.loc["neg", "recall"] == pytest.approx(1.0)
    assert per_class.loc["neu", "f1"] == 0.0 and per_class["support"].tolist() == [2, 2, 1]
    confusion = result["confusion"]
    assert confusion.loc["pos", "neg"] == 1 and confusion.loc["neu", "pos"] == 1
    assert confusion.values.trace() == 3 and confusion.values.sum() == 5
