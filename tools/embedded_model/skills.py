"""Skill documents for the corpus: short texts that each exercise one skill a fine-tune builds on.

Why: the first embedded model saw only stories, so a LoRA fine-tune had nothing to steer: it
could not copy a name from its prompt, make a plural or count even on its training rows (issue
20). Each generator here writes one document that needs one skill to predict its end: copying a
span from the context (names, places, made-up words), looking a value up by its key, regular
morphology, counting list items, the verdict of an opinion, the topic of a sentence. Every
document is wrapped in one of many frames (question/answer, instruction/response, chat, key:
value, plain prose) so no one format is what the model learns; the learnability check
(``learnability.py``) uses its own wordings, not these.
"""
from __future__ import annotations

import random

from tools.embedded_model import lexicon as L


def _pick(rng: random.Random, items):
    return items[rng.randrange(len(items))]


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def made_up_word(rng: random.Random, capital: bool = False) -> str:
    """A pronounceable word that exists nowhere ("rimobu"): copying it needs no knowledge of it."""
    word = "".join(_pick(rng, L.SYLLABLES) for _ in range(rng.randrange(2, 4)))
    return _cap(word) if capital else word


def person(rng: random.Random) -> str:
    """A first name, sometimes with a surname or made up."""
    roll = rng.random()
    if roll < 0.15:
        return made_up_word(rng, capital=True)
    if roll < 0.4:
        return f"{_pick(rng, L.FIRST_NAMES)} {_pick(rng, L.SURNAMES)}"
    return _pick(rng, L.FIRST_NAMES)


def city(rng: random.Random) -> str:
    """A real city name, or (a third of the time) a made-up one."""
    return made_up_word(rng, capital=True) if rng.random() < 0.35 else _pick(rng, L.CITIES)[0]


# Frames: (question intro, answer intro). The answer follows its intro after one space or newline.
_FRAMES: tuple[tuple[str, str], ...] = (
    ("Question: {q}\n", "Answer:"),
    ("Q: {q}\n", "A:"),
    ("### Instruction:\n{q}\n\n", "### Response:\n"),
    ("User: {q}\n", "Assistant:"),
    ("Input: {q}\n", "Output:"),
    ("{q}\n", "Answer:"),
    ("{q}\n", ""),
    ("Task: {q}\n", "Result:"),
)


def answer_gap(rng: random.Random) -> str:
    """What separates an answer from its label: a space, nothing, or a newline.

    Why not always a space: a Ludwig-style fine-tune tokenises prompt and target separately, so
    its targets start without one ("Sentiment:" + "positive"); byte-level BPE gives " positive"
    and "positive" different tokens, and a model that only ever saw the first collapsed to one
    constant answer on such a task.
    """
    return rng.choices((" ", "", "\n"), weights=(0.4, 0.35, 0.25))[0]


def framed(rng: random.Random, context: str, question: str, answer: str) -> str:
    """``context`` then ``question`` and ``answer`` in a random frame (one of ``_FRAMES``)."""
    intro, answer_intro = _pick(rng, _FRAMES)
    body = f"{context}\n{question}" if context and rng.random() < 0.5 else f"{context} {question}".strip()
    if answer_intro.endswith("\n") or not answer_intro:
        return intro.format(q=body) + answer_intro + answer
    return intro.format(q=body) + answer_intro + answer_gap(rng) + answer


def _filler(rng: random.Random) -> str:
    """An everyday sentence, to put distance between a fact and its question."""
    topic, words = _pick(rng, L.TOPICS)
    a, b = rng.sample(words, 2)
    return _pick(rng, (
        f"{person(rng)} talked about the {a} and the {b}.",
        f"The {a} was next to the {b}.",
        f"On {_pick(rng, L.DAYS)} there was a {a}.",
        f"{person(rng)} {_pick(rng, L.VERBS)[1]} in {city(rng)}.",
        f"Everyone liked the {a}.",
    ))


def copy_doc(rng: random.Random) -> str:
    """Repeat a span seen earlier: a made-up word, a name, a city, a code, a short phrase."""
    roll = rng.random()
    if roll < 0.3:
        span = made_up_word(rng, capital=rng.random() < 0.3)
    elif roll < 0.5:
        span = person(rng)
    elif roll < 0.7:
        span = city(rng)
    elif roll < 0.85:
        span = " ".join(made_up_word(rng) for _ in range(rng.randrange(2, 4)))
    else:
        span = f"{made_up_word(rng)}{rng.randrange(10, 1000)}"
    shape = rng.randrange(7)
    if shape == 0:
        return framed(rng, f'The secret word is "{span}".', "What is the secret word?", span)
    if shape == 1:
        return framed(rng, "", f"Repeat after me: {span}", span)
    if shape == 2:
        return f"Word: {span}\nAgain:{answer_gap(rng)}{span}\nOnce more:{answer_gap(rng)}{span}"
    if shape == 3:
        return framed(rng, f"{_filler(rng)} The code is {span}. {_filler(rng)}", "What is the code?", span)
    if shape == 4:
        return framed(rng, "", f'Copy the text exactly: "{span}"', span)
    if shape == 5:
        who = person(rng)
        return framed(rng, f"{who} wrote the word {span} on the board.", f"What did {who} write?", span)
    return f"{_cap(span)}. I said {span}, and then I said {span} again."


def lookup_doc(rng: random.Random) -> str:
    """Several key -> value facts, then a question that needs one of them."""
    n = rng.randrange(2, 5)
    people = []
    while len(people) < n:
        p = person(rng)
        if p not in people:
            people.append(p)
    kind = rng.randrange(4)
    if kind == 0:
        values = [city(rng) for _ in people]
        facts = [f"{p} lives in {v}." for p, v in zip(people, values)]
        i = rng.randrange(n)
        q = _pick(rng, (f"Where does {people[i]} live?", f"{people[i]} lives in which city?",
                        f"What is the city of {people[i]}?"))
    elif kind == 1:
        values = [_pick(rng, L.COLORS) for _ in people]
        facts = [f"{p} likes the color {v}." for p, v in zip(people, values)]
        i = rng.randrange(n)
        q = f"Which color does {people[i]} like?"
    elif kind == 2:
        values = [_pick(rng, L.JOBS) for _ in people]
        facts = [f"{p} works as a {v}." for p, v in zip(people, values)]
        i = rng.randrange(n)
        q = f"What is the job of {people[i]}?"
    else:
        values = [made_up_word(rng) for _ in people]
        facts = [f"{p}: {v}" for p, v in zip(people, values)]
        i = rng.randrange(n)
        q = f"What goes with {people[i]}?"
    if rng.random() < 0.4:
        facts.insert(rng.randrange(len(facts) + 1), _filler(rng))
    return framed(rng, " ".join(facts), q, values[i])


def morphology_doc(rng: random.Random) -> str:
    """Plurals and past tenses, of real words and of made-up regular ones."""
    roll = rng.random()
    if roll < 0.45:
        pairs = [(_pick(rng, L.NOUNS)) for _ in range(rng.randrange(2, 5))]
        if rng.random() < 0.35:
            w = made_up_word(rng)
            pairs.append((w, w + "s"))
        style = rng.randrange(3)
        if style == 0:
            return " ".join(f"One {s}, two {p}." for s, p in pairs)
        if style == 1:
            return "\n".join(f"{s} -> {p}" for s, p in pairs)
        s, p = pairs[-1]
        return framed(rng, "", f"What is the plural of {s}?", p)
    if roll < 0.8:
        pairs = [(_pick(rng, L.VERBS)) for _ in range(rng.randrange(2, 5))]
        if rng.random() < 0.35:
            w = made_up_word(rng)
            pairs.append((w, w + "ed"))
        style = rng.randrange(3)
        if style == 0:
            who = person(rng)
            return " ".join(f"Today {who} will {b}. Yesterday {who} {p}." for b, p in pairs)
        if style == 1:
            return "\n".join(f"{b}: {p}" for b, p in pairs)
        b, p = pairs[-1]
        return framed(rng, "", f"What is the past tense of {b}?", p)
    s, p = _pick(rng, L.NOUNS)
    return framed(rng, f"There was one {s}, then there were many.", "Many of them are called what?", p)


def count_doc(rng: random.Random) -> str:
    """A list of 1-10 items and how many there are, in words or digits."""
    n = rng.randrange(1, 11)
    pool = _pick(rng, (list(L.COLORS), [s for s, _ in L.NOUNS], list(L.FIRST_NAMES),
                       [c for c, _ in L.CITIES], list(L.COMMON_NOUNS), list(L.COMMON_VERBS)))
    items = [_pick(rng, pool) for _ in range(n)] if rng.random() < 0.2 else rng.sample(pool, n)
    number = L.NUMBER_WORDS[n] if rng.random() < 0.7 else str(n)
    style = rng.randrange(4)
    sep = _pick(rng, (", ", " ", "\n"))
    listing = sep.join(items)
    if style == 0:
        return f"{listing}\nThat makes {number}."
    if style == 1:
        return framed(rng, f"List: {listing}", "How many items are in the list?", number)
    if style == 2:
        return " ".join(f"{L.NUMBER_WORDS[i + 1] if number.isalpha() else i + 1}: {w}."
                        for i, w in enumerate(items)) + f" There are {number}."
    return framed(rng, "", f"Count the words: {' '.join(items)}", number)


def _review(rng: random.Random, verdict: str) -> str:
    words = dict(L.OPINIONS)[verdict]
    item = _pick(rng, L.REVIEWED)
    a, b = rng.sample(words, 2)
    shape = rng.randrange(6)
    if shape == 0:
        return f"The {item} was {a}."
    if shape == 1:
        return f"The {item} was {a} and the staff were {b}."
    if shape == 2:
        return f"What a {a} {item}!"
    if shape == 3:
        return f"I thought the {item} was {a}, really {b}."
    if shape == 4:
        return f"{_cap(a)} {item}. {_cap(b)} too."
    return f"My {item} was {a}. {_filler(rng)}"


def opinion_doc(rng: random.Random) -> str:
    """A review and its verdict, with the verdict named in one of several ways."""
    verdict = rng.choices(L.SENTIMENT_LABELS, weights=(0.42, 0.42, 0.16))[0]
    text = _review(rng, verdict)
    style = rng.randrange(6)
    if style == 0:
        return f"{text}\nSentiment:{answer_gap(rng)}{verdict}"
    if style == 1:
        return f"Review: {text}\nVerdict:{answer_gap(rng)}{verdict}"
    if style == 2:
        liked = {"positive": "yes", "negative": "no", "neutral": "no"}[verdict]
        return framed(rng, text, "Did they like it?", liked)
    if style == 3:
        return framed(rng, text, "Is this positive, negative or neutral?", verdict)
    if style == 4:
        good = {"positive": "good", "negative": "bad", "neutral": "okay"}[verdict]
        return f"{text} Overall it was {good}."
    return f"{text} This review is {verdict}."


def topic_doc(rng: random.Random) -> str:
    """A sentence built from one domain's words, then the domain's label."""
    label, words = _pick(rng, L.TOPICS)
    a, b, c = rng.sample(words, 3)
    text = _pick(rng, (
        f"{person(rng)} talked about the {a} and the {b}.",
        f"The {a} was next to the {b} and the {c}.",
        f"We saw a {a} today.",
        f"There is news about the {a}.",
        f"{person(rng)} {_pick(rng, L.VERBS)[1]} with the {a}.",
        f"I love the {a}, the {b} and the {c}.",
    ))
    style = rng.randrange(4)
    if style == 0:
        return f"{text}\nTopic:{answer_gap(rng)}{label}"
    if style == 1:
        return framed(rng, text, "What is the topic?", label)
    if style == 2:
        return f"{text} This is about {label}."
    return f"Words about {label}: {a}, {b}, {c}."


def yes_no_doc(rng: random.Random) -> str:
    """A membership or fact check answered yes/no (or true/false) from the context."""
    pool = _pick(rng, (list(L.COLORS), [s for s, _ in L.NOUNS], list(L.FIRST_NAMES), list(L.COMMON_NOUNS)))
    items = rng.sample(pool, rng.randrange(2, 6))
    probe = _pick(rng, items) if rng.random() < 0.5 else _pick(rng, pool)
    answer = probe in items
    if rng.random() < 0.7:
        return framed(rng, f"The list is: {', '.join(items)}.", f"Is {probe} in the list?",
                      "yes" if answer else "no")
    return framed(rng, f"Items: {' '.join(items)}", f"True or false: {probe} is one of the items.",
                  "true" if answer else "false")


def everyday_doc(rng: random.Random) -> str:
    """Plain sentences about one domain, so the everyday words occur in ordinary prose."""
    label, words = _pick(rng, L.TOPICS)
    out = []
    for _ in range(rng.randrange(3, 7)):
        a, b = rng.sample(words, 2)
        out.append(_pick(rng, (
            f"{person(rng)} {_pick(rng, L.VERBS)[1]} the {a}.",
            f"The {a} is near the {b}.",
            f"On {_pick(rng, L.DAYS)}, {person(rng)} went to {city(rng)} with a {a}.",
            f"In {_pick(rng, L.MONTHS)} the {a} was {_pick(rng, _pick(rng, L.OPINIONS)[1])}.",
            f"{person(rng)} is a {_pick(rng, L.JOBS)} who likes {a}.",
            f"We need {L.NUMBER_WORDS[rng.randrange(2, 13)]} {_pick(rng, L.NOUNS)[1]} for the {a}.",
        )))
    return " ".join(out)


def common_doc(rng: random.Random) -> str:
    """Plain sentences of general everyday English (``lexicon.COMMON_*``), a few per document."""
    out = []
    for _ in range(rng.randrange(3, 7)):
        n1, n2 = rng.sample(L.COMMON_NOUNS, 2)
        a1, a2 = rng.sample(L.COMMON_ADJECTIVES, 2)
        v, adv = _pick(rng, L.COMMON_VERBS), _pick(rng, L.ADVERBS)
        out.append(_pick(rng, (
            f"The {a1} {n1} was {adv} {a2}.",
            f"{person(rng)} will {v} the {n1} {adv}.",
            f"I {adv} {v} my {n1}.",
            f"Do you {v} the {a1} {n2}?",
            f"We wanted to {v} the {n1} near the {n2}.",
            f"{_cap(adv)}, the {n1} and the {n2} were {a1}.",
            f"There is a {a1} {n1} in the {n2}.",
            f"You can {v} a {n1} with a {n2}.",
        )))
    return " ".join(out)


SKILLS = (
    ("copy", copy_doc), ("lookup", lookup_doc), ("morphology", morphology_doc),
    ("count", count_doc), ("opinion", opinion_doc), ("topic", topic_doc), ("yes_no", yes_no_doc),
    ("everyday", everyday_doc), ("common", common_doc),
)
