"""The learnability check (``tools/embedded_model/learnability.py``): held-out words, the pasted config.

The full check (docs/embedded-model.md) takes minutes per task; here a small version checks what
makes its numbers mean something: the test rows' key words never occur in the training rows, the
wordings are not the corpus's, and a run goes through ``Session.train`` with the embedded
model's derived recipe (not values written into the config).
"""
from __future__ import annotations

import random
import re

import pytest

from tools.embedded_model import learnability as LC
from tools.embedded_model.corpus import generate_corpus


def _words(rows):
    return {w for text, answer in rows for w in re.findall(r"[A-Za-z]+", f"{text} {answer}")}


@pytest.mark.parametrize("name", list(LC.TASKS))
def test_test_rows_hold_out_their_key_words(name):
    generate = LC.TASKS[name][0]
    train, test = generate(random.Random(0), 200, 60)
    assert len(train) == 200 and len(test) == 60
    if name in ("sentiment", "topic"):
        # The words that decide the label: whatever is in the test rows but in no training row.
        unseen = _words(test) - _words(train)
        assert unseen and all(any(w in _words([row]) for w in unseen) for row in test)
    elif name == "copy_city":
        assert not {a for _, a in test} & {a for _, a in train}
    elif name == "plural":
        assert not {t.split()[-1] for t, _ in test} & {t.split()[-1] for t, _ in train}
    else:  # count: every counted word is new
        train_words = {w for text, _ in train for w in text.split()}
        assert all(not set(text.split()) & train_words for text, _ in test)


def test_prompts_are_not_corpus_templates():
    corpus = "\n".join(d for v in ("v2", "v3") for d in generate_corpus(3000, seed=0, version=v))
    for _, _, template in LC.TASKS.values():
        for line in template.split("\n"):
            cue = line.replace("{text}", "").strip()
            if cue:
                assert cue not in corpus, cue


@pytest.mark.slow
def test_a_small_run_trains_with_the_derived_recipe():
    result = LC.run_task("sentiment", n_train=24, n_test=8)
    derived = result["derived"]
    assert derived["trainer.learning_rate"] == 0.001 and derived["trainer.batch_size"] == 4
    assert derived["trainer.epochs"] == 5
    assert result["run"].status == "finished"
    assert 0.0 <= result["accuracy"] <= 1.0 and len(result["examples"]) == 3
