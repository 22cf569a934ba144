"""The copy curriculum (``tools/embedded_model/curriculum.py``) scores what it claims and leaks no check wording."""
from __future__ import annotations

import random

from tools.embedded_model import curriculum as C
from tools.embedded_model import learnability as LC


def test_induction_blocks_label_only_the_copyable_repeats():
    ids, labels = C.induction_block(random.Random(0), 128, 3, 4096, bos=1, eos=2)
    assert len(ids) == len(labels) == 128
    scored = [i for i, lab in enumerate(labels) if lab != -100]
    assert scored and all(labels[i] == ids[i] for i in scored)
    for i in scored:
        # Every scored token continues a span seen earlier in the block: the token before it
        # occurred before, followed by this same token.
        prev, tok = ids[i - 1], ids[i]
        assert any(ids[j] == prev and ids[j + 1] == tok for j in range(i - 1)), i
    # Specials and first occurrences are never scored.
    assert all(labels[i] == -100 for i, t in enumerate(ids) if t in (1, 2))


def test_copy_documents_are_seeded_and_answer_from_their_context():
    stream_a, stream_b = C.copy_documents(3), C.copy_documents(3)
    assert [next(stream_a) for _ in range(50)] == [next(stream_b) for _ in range(50)]
    assert next(C.copy_documents(3)) != next(C.copy_documents(4))
    rng = random.Random(1)
    for _ in range(200):
        doc, span = C.span_question(rng)
        # The answer ends the document and already occurs before it: it is copied, not known.
        assert doc.endswith(span) and span in doc[: -len(span)], doc


def test_copy_documents_do_not_use_the_learnability_wordings():
    copy, label = C.copy_documents(0), C.label_documents(0)
    text = "\n".join(next(s) for _ in range(2000) for s in (copy, label))
    for _, _, template in LC.TASKS.values():
        for line in template.split("\n"):
            cue = line.replace("{text}", "").strip()
            if cue:
                assert cue not in text, cue
    for phrase in ("moved to", "finally reached", "was posted in"):
        assert phrase not in text


def test_label_copy_answers_are_an_asked_place_right_after_the_label():
    rng = random.Random(2)
    for _ in range(200):
        doc = C.label_copy_doc(rng)
        body, _, answer = doc.rpartition("\n")
        label = next(lab for lab in C._LABELS if answer.startswith(lab) or body.endswith(lab))
        place = answer.removeprefix(label) if answer.startswith(label) else answer
        assert place and not place.startswith(" "), doc  # as a fine-tune's target is tokenised
        assert f" {place}." in body, doc  # one of the places in the context
