"""Session.evaluate (trainer none): text metrics, and category metrics through the label mapping."""
from __future__ import annotations

import pandas as pd
import pytest
import torch


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("eval-llama"))


def base(model_dir, output):
    return {
        "model_type": "llm", "base_model": str(model_dir),
        "input_features": [{"name": "review", "type": "text"}],
        "output_features": [output],
        "prompt": {"template": "Review: {review}\nSentiment:"},
        "preprocessing": {"split": {"type": "fixed", "column": "split"}},
        "generation": {"max_new_tokens": 3, "do_sample": False},
    }


@pytest.fixture
def reviews():
    return pd.DataFrame({
        "review": ["great", "awful", "fine", "loved it", "hated it", "meh", "superb", "bad"],
        "sentiment": ["positive", "negative", "neutral", "positive", "negative", "neutral", "positive", "negative"],
        "split": [0, 0, 1, 2, 2, 2, 2, 2],
    })


def test_category_output_maps_text_to_labels_and_scores_them(session, tiny_dir, reviews):
    # A catch-all rule first: whatever the random model says maps to "positive", so the
    # expected scores follow from the test labels alone.
    session.set_config(base(tiny_dir, {
        "name": "sentiment", "type": "category",
        "preprocessing": {"vocab": ["positive", "negative", "neutral"], "fallback_label": "neutral"},
        "decoder": {"type": "category_extractor", "match": {
            "positive": {"type": "regex", "value": ".*"},
            "negative": {"type": "contains", "value": "negative"},
            "neutral": {"type": "contains", "value": "neutral"}}},
    }))
    report = session.evaluate(reviews)
    assert report.output_type == "category" and report.rows == 5
    assert report["accuracy"] == pytest.approx(2 / 5)  # test labels: 2 positive, 2 negative, 1 neutral
    assert list(report.per_class.index) == ["positive", "negative", "neutral"]
    assert report.per_class.loc["positive", "precision"] == pytest.approx(2 / 5)
    assert report.per_class.loc["positive", "recall"] == pytest.approx(1.0)
    assert report.confusion["positive"].tolist() == [2, 2, 1]
    assert report.confusion.values.sum() == 5
    assert set(report.examples["label"]) == {"positive"}
    assert "Confusion matrix" in repr(report) and "Confusion matrix" in report._repr_html_()
    assert report.to_dict()["confusion"]["negative"]["positive"] == 2


def test_text_output_metrics_and_teacher_forced_loss(session, tiny_dir, reviews):
    from llm_magic.runtime.evaluation.evaluate import teacher_forced_metrics

    session.set_config(base(tiny_dir, {"name": "sentiment", "type": "text"}))
    model = session.load_model().model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    report = session.evaluate(reviews, split="test")
    assert report.rows == 5
    for key in ("loss", "perplexity", "token_accuracy", "sequence_accuracy", "exact_match",
                "rouge1", "rougeL"):
        assert key in report
    # One-word answers: BLEU and ROUGE-2 read 0 whatever the answer, so they are not shown, and a
    # line says why (the values stay in report.hidden).
    assert "bleu" not in report and "rouge2" not in report and set(report.hidden) == {"bleu", "rouge2"}
    assert "BLEU and ROUGE-2 not shown: most reference answers are shorter than 4 words" in repr(report)
    assert "BLEU and ROUGE-2 not shown" in report._repr_html_()
    assert report["perplexity"] == pytest.approx(torch.tensor(report["loss"]).exp().item(), rel=1e-5)
    assert list(report.examples["target"]) == ["positive", "negative", "neutral", "positive", "negative"]
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    # The teacher-forced loss equals the model's own loss on a single row.
    from llm_magic.runtime.data.tokenize import make_data_collator, tokenize_for_training

    tok = session.load_model().tokenizer
    rows = tokenize_for_training(tok, ["Review: great\nSentiment:"], ["positive"]).rows
    batch = make_data_collator(tok)(rows)
    with torch.no_grad():
        expected = model(**batch).loss.item()
    assert teacher_forced_metrics(model, rows, make_data_collator(tok))["loss"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(Exception, match="validation split is empty"):
        session.evaluate(reviews[reviews["split"] != 1], split="validation")


def test_short_answer_rule_and_report_layout():
    import pandas as pd

    from llm_magic.runtime.evaluation.evaluate import short_answer_note
    from llm_magic.runtime.evaluation.report import EvalReport

    assert short_answer_note(["a b c d e", "one two three four", "x"]) == (set(), None)
    hidden, note = short_answer_note(["yes", "no", "a long answer of words"])
    assert hidden == {"bleu", "rouge2"} and "median 1" in note
    # Metrics come first; the examples are few in text and collapsed in HTML.
    examples = pd.DataFrame({"prompt": [f"line 1\nline 2\nprompt {i}" for i in range(20)],
                             "target": ["t"] * 20, "prediction": ["p"] * 20})
    report = EvalReport("test", "text", 20, metrics={"exact_match": 0.5}, examples=examples)
    text = repr(report).splitlines()
    assert text[1].strip().startswith("exact_match") and len(text) < 30  # 5 examples made 40
    assert "Examples (3 of 20; all in report.examples):" in text
    assert "<details><summary><b>Examples</b> (5 of 20" in report._repr_html_()
