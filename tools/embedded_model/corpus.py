"""A seeded, licence-clean English corpus: a probabilistic grammar of simple sentences and stories.

Why our own generator: the model must be pretrained here, offline, on text we may ship, and a
small closed world (a few hundred words, see ``vocabulary.py``; ``lexicon.py`` and ``skills.py``
add everyday words and skill documents) lets a ~1M-parameter model learn
to continue English recognisably in minutes on a CPU.

Every generator takes a ``random.Random`` so one seed fixes the whole corpus:
``generate_corpus(n_docs, seed)`` always returns the same documents.
"""
from __future__ import annotations

import random
from collections.abc import Iterator

from tools.embedded_model import vocabulary as V
from tools.embedded_model.skills import SKILLS

# Document kinds and their weights in the mixture, per corpus version.
# v1: the story world only; the shipped model (commit 631eb15) was pretrained on it.
_DOC_KINDS_V1: tuple[tuple[str, float], ...] = (
    ("story", 0.40),
    ("sentences", 0.27),
    ("facts", 0.10),
    ("dialogue", 0.07),
    ("list", 0.04),
    ("recap", 0.12),
)
# v2: the story world (40 %) and the skill documents of ``skills.py`` (60 %), which a fine-tune
# on a user's own task builds on (issue 20).
_DOC_KINDS: tuple[tuple[str, float], ...] = (
    ("story", 0.14),
    ("sentences", 0.06),
    ("facts", 0.04),
    ("dialogue", 0.03),
    ("list", 0.02),
    ("recap", 0.07),
    ("copy", 0.10),
    ("lookup", 0.09),
    ("morphology", 0.07),
    ("count", 0.07),
    ("opinion", 0.08),
    ("topic", 0.07),
    ("yes_no", 0.05),
    ("everyday", 0.05),
    ("common", 0.06),
)
# v3: skill-dense (85 % skills): a smaller corpus seen for several epochs. The second build learnt
# the document shapes but not the skills inside them, so the skills that need a mechanism
# (copying, look-ups, counting, morphology) get most of the weight; stories stay for continuations.
_DOC_KINDS_V3: tuple[tuple[str, float], ...] = (
    ("story", 0.06),
    ("sentences", 0.03),
    ("facts", 0.02),
    ("dialogue", 0.02),
    ("recap", 0.02),
    ("copy", 0.17),
    ("lookup", 0.14),
    ("morphology", 0.11),
    ("count", 0.11),
    ("opinion", 0.10),
    ("topic", 0.10),
    ("yes_no", 0.05),
    ("everyday", 0.04),
    ("common", 0.03),
)
CORPUS_KINDS = {"v1": _DOC_KINDS_V1, "v2": _DOC_KINDS, "v3": _DOC_KINDS_V3}


class Character:
    """Someone in a story: how to name them the first time, afterwards, and by pronoun."""

    def __init__(self, first: str, later: str, pronoun: str) -> None:
        self.first = first  # "a little dog named Max" / "a kind farmer"
        self.later = later  # "Max" / "the farmer"
        self.pronoun = pronoun  # "he" / "she" / "it"

    @property
    def possessive(self) -> str:
        """"his" / "her" / "its"."""
        return {"he": "his", "she": "her", "it": "its"}[self.pronoun]

    @property
    def objective(self) -> str:
        """"him" / "her" / "it"."""
        return {"he": "him", "she": "her", "it": "it"}[self.pronoun]


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _pick(rng: random.Random, items):
    return items[rng.randrange(len(items))]


def noun_phrase(rng: random.Random, noun: str, adjectives: tuple[str, ...] = V.ADJECTIVES,
                definite: bool | None = None) -> str:
    """"the dog", "a big dog", "an old cat" (an adjective from ``adjectives`` half of the time)."""
    words = []
    if rng.random() < 0.5:
        words.append(_pick(rng, adjectives))
    words.append(noun)
    if definite is None:
        definite = rng.random() < 0.5
    det = "the" if definite else V.article(words[0])
    return " ".join([det, *words])


def being(rng: random.Random) -> tuple[str, str]:
    """A random person or animal as (noun phrase, pronoun)."""
    roll = rng.random()
    if roll < 0.35:
        return _pick(rng, V.NAMES)
    if roll < 0.65:
        noun, pronoun = _pick(rng, V.PEOPLE)
        return noun_phrase(rng, noun), pronoun
    return noun_phrase(rng, _pick(rng, V.ANIMALS).name, V.ADJECTIVES + V.COLORS), "it"


def thing(rng: random.Random, food: bool = False) -> str:
    """A noun phrase for an object ("the red ball"); ``food`` limits it to edible things."""
    pool = [t for t in V.THINGS if t[2]] if food else V.THINGS
    name, plural, _ = _pick(rng, pool)
    if rng.random() < 0.12:
        return f"{_pick(rng, V.NUMBERS)} {plural}"
    return noun_phrase(rng, name, V.THING_ADJECTIVES + V.COLORS)


def place(rng: random.Random) -> str:
    """A prepositional phrase for a place ("in the forest", "by the river")."""
    noun, prep = _pick(rng, V.PLACES)
    return f"{prep} the {noun}"


def clause(rng: random.Random, subject: str | None = None) -> str:
    """One simple clause with no final punctuation ("the old man found a key in the park")."""
    subject = subject or being(rng)[0]
    kind = rng.random()
    if kind < 0.25:
        verb = _pick(rng, V.INTRANSITIVE)[0]
        text = f"{subject} {verb}"
    elif kind < 0.50:
        text = f"{subject} {_pick(rng, V.TRANSITIVE_THING)[0]} {thing(rng)}"
    elif kind < 0.62:
        text = f"{subject} {_pick(rng, V.TRANSITIVE_FOOD)[0]} {thing(rng, food=True)}"
    elif kind < 0.80:
        text = f"{subject} {_pick(rng, V.TRANSITIVE_BEING)[0]} {being(rng)[0]}"
    elif kind < 0.90:
        text = f"{subject} was {_pick(rng, V.ADJECTIVES)}"
    else:
        text = f"{subject} wanted to {_pick(rng, V.INTRANSITIVE)[1]}"
    if rng.random() < 0.45:
        text += " " + place(rng)
    return text


def sentence(rng: random.Random) -> str:
    """One sentence: a clause, sometimes with a time phrase or joined to a second clause."""
    first = clause(rng)
    roll = rng.random()
    if roll < 0.15:
        text = f"{first} and {clause(rng)}"
    elif roll < 0.25:
        text = f"{first}, but {clause(rng)}"
    elif roll < 0.32:
        text = f"{first} because {clause(rng)}"
    else:
        text = first
    if rng.random() < 0.25:
        return f"{_pick(rng, V.TIMES)}, {text}."
    return _cap(text) + "."


def fact(rng: random.Random) -> str:
    """A present-tense statement about the world that stays true across the corpus."""
    animal = _pick(rng, V.ANIMALS)
    roll = rng.random()
    if roll < 0.3:
        return f"The {animal.name} {animal.sound}."
    if roll < 0.5:
        return f"{_cap(animal.plural)} live {dict(V.PLACES)[animal.home]} the {animal.home}."
    if roll < 0.7:
        return f"{_cap(V.article(animal.name))} {animal.name} likes to eat {animal.food}."
    if roll < 0.85:
        return f"A {animal.name} is an animal."
    noun, _, _ = _pick(rng, V.THINGS)
    return f"{_cap(V.article(noun))} {noun} is a thing."


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        place=_pick(rng, V.PLACES)[0],
        animal=_pick(rng, V.ANIMALS).name,
        thing=_pick(rng, V.THINGS)[0],
        food=_pick(rng, [t for t in V.THINGS if t[2]])[1],
        pos=_pick(rng, V.POSITIVE),
    )


def speech(rng: random.Random, speaker: str) -> str:
    """A line of direct speech: 'Tom said, "I am hungry."' or '"Thank you," said the girl.'"""
    quote = _fill(rng, _pick(rng, V.QUOTES))
    verb = "asked" if quote.endswith("?") else _pick(rng, ("said", "said", "shouted", "whispered"))
    if rng.random() < 0.5:
        end = "" if quote.endswith("?") else "."
        return f'{_cap(speaker)} {verb}, "{quote}{end}"'
    mark = "" if quote.endswith("?") else ","
    return f'"{quote}{mark}" {verb} {speaker}.'


def _character(rng: random.Random) -> Character:
    roll = rng.random()
    if roll < 0.4:
        name, pronoun = _pick(rng, V.NAMES)
        noun = _pick(rng, [p for p, pr in V.PEOPLE if pr == pronoun])
        adj = _pick(rng, V.ADJECTIVES)
        return Character(f"{V.article(adj)} {adj} {noun} named {name}", name, pronoun)
    if roll < 0.7:
        animal = _pick(rng, V.ANIMALS).name
        adj = _pick(rng, V.ADJECTIVES)
        if rng.random() < 0.5:
            name, pronoun = _pick(rng, V.NAMES)
            return Character(f"{V.article(adj)} {adj} {animal} named {name}", name, pronoun)
        return Character(f"{V.article(adj)} {adj} {animal}", f"the {animal}", "it")
    noun, pronoun = _pick(rng, V.PEOPLE)
    adj = _pick(rng, V.ADJECTIVES)
    return Character(f"{V.article(adj)} {adj} {noun}", f"the {noun}", pronoun)


def story(rng: random.Random) -> str:
    """A short story with a hero, a friend, a problem and an ending; pronouns stay consistent."""
    hero, friend = _character(rng), _character(rng)
    while friend.later == hero.later:
        friend = _character(rng)
    home_noun, home_prep = _pick(rng, V.PLACES)
    prized = _pick(rng, V.THINGS)[0]
    color = _pick(rng, V.COLORS)
    opening = _pick(rng, ("Once upon a time, there was", "There was once", "Long ago, there was"))
    lines = [
        f"{opening} {hero.first}.",
        f"{_cap(hero.pronoun)} lived {home_prep} the {home_noun}.",
    ]
    if rng.random() < 0.7:
        lines.append(f"{_cap(hero.pronoun)} had {V.article(color)} {color} {prized}.")
    went = _pick(rng, V.PLACES)[0]
    lines.append(f"{_pick(rng, V.TIMES)}, {hero.later} went to the {went}.")
    lines.append(f"There {hero.pronoun} met {friend.first}.")
    plot = rng.random()
    if plot < 0.35:  # a lost thing, found by the friend
        lines += [
            f"{_cap(hero.later)} was sad because {hero.pronoun} lost {hero.possessive} {prized}.",
            speech(rng, friend.later),
            f"{_cap(friend.later)} looked {place(rng)} and found the {prized}.",
            f"{_cap(hero.later)} was happy and hugged {friend.objective}.",
        ]
    elif plot < 0.65:  # sharing food
        food = _pick(rng, [t for t in V.THINGS if t[2]])[0]
        lines += [
            f"{_cap(friend.later)} was hungry.",
            f"{_cap(hero.later)} had {V.article(food)} {food} and shared it with {friend.objective}.",
            f"The {food} was {_pick(rng, V.POSITIVE)}.",
            speech(rng, friend.later),
        ]
    else:  # playing together, then the weather turns
        lines += [
            f"{_cap(hero.later)} and {friend.later} {_pick(rng, V.INTRANSITIVE)[0]} together.",
            _pick(rng, ("Then it started to rain.", "Then the wind was cold.", "Then the sun went down.")),
            speech(rng, hero.later),
            f"They ran back to the {home_noun}.",
        ]
    for _ in range(rng.randrange(0, 3)):
        lines.append(sentence(rng))
    lines.append(_pick(rng, (
        "In the end, they became good friends.", "From that day on, they played every day.",
        f"That night, {hero.later} slept well.", "The end.",
    )))
    return " ".join(lines)


def word_list(rng: random.Random) -> str:
    """A short list, one word per line (so that bare lower-case words appear without a space)."""
    roll = rng.random()
    if roll < 0.4:
        owner = _pick(rng, V.NAMES)[0]
        items = rng.sample([t[0] for t in V.THINGS], rng.randrange(3, 7))
        head = f"{owner} made a list of things to take."
    elif roll < 0.75:
        home = _pick(rng, V.PLACES)[0]
        items = [a.name for a in V.ANIMALS]
        items = rng.sample(items, rng.randrange(3, 7))
        head = f"Animals we saw at the {home}:"
    else:
        items = rng.sample(list(V.COLORS), rng.randrange(3, 6))
        head = "Colors in the box:"
    return "\n".join([head, *items])


def recap(rng: random.Random) -> str:
    """A few sentences, then a list of the animals (or things) they mention, one per line.

    Why: it teaches the generic skill of finding words of one kind in earlier text and writing
    them out bare (" fox" -> "fox"). Without it a LoRA fine-tune of an extraction task stalls at
    guessing (measured: stuck at 2.5% exact match, while full fine-tuning reached 100%).
    """
    animals = rng.sample([a.name for a in V.ANIMALS], rng.randrange(1, 4))
    things = rng.sample([t[0] for t in V.THINGS], rng.randrange(1, 4))
    mentions = [("animal", a) for a in animals] + [("thing", t) for t in things]
    rng.shuffle(mentions)
    lines = []
    for kind, word in mentions:
        if kind == "animal":
            np = noun_phrase(rng, word, V.ADJECTIVES + V.COLORS)
            lines.append(_cap(f"{_person(rng)} {_pick(rng, V.TRANSITIVE_BEING)[0]} {np} {place(rng)}."))
        else:
            np = noun_phrase(rng, word, V.THING_ADJECTIVES + V.COLORS)
            lines.append(_cap(f"{_person(rng)} {_pick(rng, V.TRANSITIVE_THING)[0]} {np}."))
    pick = rng.random()
    if pick < 0.5:
        head, items = _pick(rng, ("Animals in the story:", "The animals were:")), animals
    elif pick < 0.8:
        head, items = _pick(rng, ("Things in the story:", "The things were:")), things
    else:
        head, items = "Animals and things:", [w for _, w in mentions]
    items = [w for _, w in mentions if w in items]  # in order of mention
    return " ".join(lines) + "\n" + "\n".join([head, *items])


def _person(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return _pick(rng, V.NAMES)[0]
    return noun_phrase(rng, _pick(rng, V.PEOPLE)[0])


_SKILL_DOCS = dict(SKILLS)


def document(rng: random.Random, kinds: tuple[tuple[str, float], ...] = _DOC_KINDS) -> str:
    """One document of a random kind drawn from ``kinds`` (default: v2's ``_DOC_KINDS``)."""
    kind = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
    if kind == "story":
        return story(rng)
    if kind == "sentences":
        return " ".join(sentence(rng) for _ in range(rng.randrange(3, 8)))
    if kind == "facts":
        return " ".join(fact(rng) for _ in range(rng.randrange(3, 7)))
    if kind == "dialogue":
        a, b = _pick(rng, V.NAMES)[0], _pick(rng, V.NAMES)[0]
        return "\n".join(speech(rng, _pick(rng, (a, b))) for _ in range(rng.randrange(2, 6)))
    if kind == "recap":
        return recap(rng)
    if kind in _SKILL_DOCS:
        return _SKILL_DOCS[kind](rng)
    return word_list(rng)


def iter_documents(n_docs: int, seed: int, version: str = "v2") -> Iterator[str]:
    """Yield ``n_docs`` documents of corpus ``version`` (``CORPUS_KINDS``); the same seed always
    yields the same documents."""
    kinds = CORPUS_KINDS[version]
    rng = random.Random(seed)
    for _ in range(n_docs):
        yield document(rng, kinds)


def generate_corpus(n_docs: int, seed: int, version: str = "v2") -> list[str]:
    """Return ``n_docs`` documents generated from ``seed`` (see :func:`iter_documents`)."""
    return list(iter_documents(n_docs, seed, version))


def held_out_sentences(n: int, seed: int = 1234) -> list[str]:
    """Sentences for evaluation, from a seed the pretraining corpus does not use."""
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(n)]
