"""The corpus and example-data generators are deterministic and produce what they promise."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from tools.embedded_model import task_data
from tools.embedded_model import vocabulary as V
from tools.embedded_model.corpus import generate_corpus, held_out_sentences

REPO_ROOT = Path(__file__).resolve().parents[3]
ANIMAL_WORDS = {a.name for a in V.ANIMALS} | {a.plural for a in V.ANIMALS}


def test_corpus_is_deterministic_for_a_seed():
    assert generate_corpus(40, seed=3) == generate_corpus(40, seed=3)
    assert generate_corpus(40, seed=3) != generate_corpus(40, seed=4)


def test_corpus_is_varied_english():
    docs = generate_corpus(300, seed=0)
    assert len(set(docs)) == len(docs)
    words = {w for d in docs for w in re.findall(r"[a-z]+", d.lower())}
    assert len(words) > 250  # "a few hundred words of vocabulary"
    assert any(d.startswith(("Once upon a time", "Long ago", "There was once")) for d in docs)
    assert any('"' in d for d in docs)  # dialogue
    # Prose starts capitalised; word lists, tables and counts ("carry\nhave\nThat makes two.") may not.
    lines = [d.split("\n")[0] for d in docs]
    prose = [d for d, line in zip(docs, lines) if line.endswith((".", "!", "?", '"'))
             and len(line.split(".")[0].split()) >= 4 and not set(line.split(".")[0]) & set(":,>")]
    assert len(prose) > 100 and all(d[0].isupper() or d[0] == '"' for d in prose)


def test_held_out_sentences_are_not_in_the_corpus_seed():
    held = held_out_sentences(20)
    assert held == held_out_sentences(20)
    assert all(s.endswith(".") for s in held)


def test_animal_rows_have_exactly_the_answer_animal():
    rows = task_data.animal_rows(200, seed=11)
    assert rows == task_data.animal_rows(200, seed=11)
    for row in rows:
        sentence = row["instruction"].removeprefix(task_data.ANIMAL_QUESTION + " ")
        assert sentence != row["instruction"]
        found = [w for w in re.findall(r"[a-z]+", sentence.lower()) if w in ANIMAL_WORDS]
        assert found == [row["output"]], row
    assert len({r["instruction"] for r in rows}) == len(rows)


def test_reviews_are_balanced_and_labelled_by_their_words():
    rows = task_data.review_rows(90, seed=5)
    assert {r["sentiment"] for r in rows} == {"positive", "negative", "neutral"}
    assert sum(r["sentiment"] == "neutral" for r in rows) == 30
    for row in rows:
        words = set(re.findall(r"[a-z]+", row["review"].lower()))
        label_words = {
            "positive": V.POSITIVE, "negative": V.NEGATIVE, "neutral": V.NEUTRAL
        }[row["sentiment"]]
        assert words & set(label_words), row


def test_shipped_csvs_are_what_the_generator_writes(tmp_path):
    task_data.main(["--out", str(tmp_path)])
    for name in ("animals.csv", "reviews.csv"):
        shipped = (REPO_ROOT / "examples" / "data" / name).read_bytes()
        assert shipped == (tmp_path / name).read_bytes(), f"re-run tools/embedded_model/task_data.py ({name})"


def test_shipped_csvs_have_ludwig_split_columns():
    for name, size in (("animals.csv", (400, 1000)), ("reviews.csv", (150, 300))):
        with (REPO_ROOT / "examples" / "data" / name).open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert size[0] <= len(rows) <= size[1]
        assert {r["split"] for r in rows} == {"0", "1", "2"}


def test_the_shipped_corpus_version_rebuilds_the_shipped_tokenizer():
    """``pretrain.py --corpus <the shipped build's version>`` starts from the shipped corpus: its BPE
    is the shipped one (v1, the first build, has no version in its build_info)."""
    import json

    from transformers import AutoTokenizer

    from llm_magic.runtime.embedded import embedded_model_path
    from tools.embedded_model.pretrain import PRESETS
    from tools.embedded_model.tokenizer import train_tokenizer

    corpus = json.loads((embedded_model_path() / "build_info.json").read_text())["corpus"]
    version = corpus.get("version", "v1")
    docs = generate_corpus(corpus["documents"], corpus["seed"], version)
    rebuilt = train_tokenizer(docs, PRESETS[version]["vocab_size"], 512)
    shipped = AutoTokenizer.from_pretrained(embedded_model_path())
    assert rebuilt.get_vocab() == shipped.get_vocab()
    assert generate_corpus(200, 0, "v1") != generate_corpus(200, 0, "v2")  # v2 adds skill documents
