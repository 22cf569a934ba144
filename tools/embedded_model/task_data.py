"""Generate the example datasets in ``examples/data/`` (seeded, so re-running changes nothing).

- ``animals.csv`` (fine-tuning): ``instruction`` = "Which animal is in this sentence? <sentence>",
  ``output`` = the one animal in it, singular ("fox"). Deterministic, so exact match is the
  metric. The question format never occurs in the pretraining corpus, so the base model scores
  ~0% and a LoRA fine-tune has something visible to learn.
- ``reviews.csv`` (in-context learning, category output): ``review`` = one or two short
  sentences, ``sentiment`` = positive / negative / neutral.

Both have a Ludwig ``split`` column: 0 train, 1 validation, 2 test.

    .venv/bin/python -m tools.embedded_model.task_data        # writes examples/data/*.csv
"""
from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from tools.embedded_model import vocabulary as V
from tools.embedded_model.corpus import _cap, _person, _pick, noun_phrase, place, thing

OUT_DIR = Path(__file__).resolve().parents[2] / "examples" / "data"
ANIMAL_QUESTION = "Which animal is in this sentence?"
SPLIT_PROBABILITIES = (0.7, 0.1, 0.2)  # train / validation / test, as in Ludwig's default


def animal_sentence(rng: random.Random) -> tuple[str, str]:
    """A sentence with exactly one animal in it, at a varying position; returns (sentence, animal)."""
    animal = _pick(rng, V.ANIMALS).name
    a = noun_phrase(rng, animal, V.ADJECTIVES + V.COLORS)
    p, t = _person(rng), thing(rng)
    shape = rng.randrange(7)
    if shape == 0:
        text = f"{p} {_pick(rng, V.TRANSITIVE_BEING)[0]} {a} {place(rng)}"
    elif shape == 1:
        text = f"{a} {_pick(rng, V.TRANSITIVE_THING)[0]} {t} {place(rng)}"
    elif shape == 2:
        text = f"{p} and {a} {_pick(rng, V.INTRANSITIVE)[0]} {place(rng)}"
    elif shape == 3:
        text = f"{p} gave {t} to {a}"
    elif shape == 4:
        text = f"{a} was {_pick(rng, V.ADJECTIVES)} because {p} {_pick(rng, V.INTRANSITIVE)[0]}"
    elif shape == 5:
        text = f"{p} {_pick(rng, V.TRANSITIVE_THING)[0]} {t} and {a} {_pick(rng, V.INTRANSITIVE)[0]}"
    else:
        text = f"{p} saw {a} with {t} {place(rng)}"
    if rng.random() < 0.25:
        return f"{_pick(rng, V.TIMES)}, {text}.", animal
    return _cap(text) + ".", animal


_REVIEW_ITEMS = (
    "soup", "cake", "book", "park", "market", "hotel", "film", "toy", "bakery", "beach", "pie",
    "game", "kite", "garden", "boat trip", "school play", "picnic", "farm visit",
)
_REVIEW_TAILS = {
    "positive": ("I loved it.", "I will come back.", "We had a great time.", "Highly recommended.",
                 "My kids were happy.", "Best day ever."),
    "negative": ("I hated it.", "I will not come back.", "What a waste of time.",
                 "Do not buy it.", "My kids cried.", "Never again."),
    "neutral": ("It was okay, I guess.", "Nothing special.", "Not good, not bad.",
                "It did the job.", "Maybe I will try it again.", "It was what I expected."),
}
_REVIEW_WORDS = {"positive": V.POSITIVE, "negative": V.NEGATIVE, "neutral": V.NEUTRAL}


def review(rng: random.Random, label: str) -> str:
    """A one- or two-sentence review whose wording carries ``label``."""
    item = _pick(rng, _REVIEW_ITEMS)
    word = _pick(rng, _REVIEW_WORDS[label])
    first = _pick(rng, (f"The {item} was {word}.", f"This {item} is {word}.",
                        f"Our {item} was really {word}.", f"What {V.article(word)} {word} {item}."))
    if label == "neutral" and first.startswith("What"):
        first = f"The {item} was {word}."  # "What an okay soup." reads as sarcasm, not neutral
    if rng.random() < 0.7:
        return f"{first} {_pick(rng, _REVIEW_TAILS[label])}"
    return first


def _split(rng: random.Random) -> int:
    return rng.choices((0, 1, 2), weights=SPLIT_PROBABILITIES)[0]


def animal_rows(n: int, seed: int) -> list[dict]:
    """``n`` distinct rows of the animal task."""
    rng, seen, rows = random.Random(seed), set(), []
    while len(rows) < n:
        sentence, animal = animal_sentence(rng)
        if sentence in seen:
            continue
        seen.add(sentence)
        rows.append({"instruction": f"{ANIMAL_QUESTION} {sentence}", "output": animal,
                     "split": _split(rng)})
    return rows


def review_rows(n: int, seed: int) -> list[dict]:
    """``n`` distinct reviews, labels balanced (cycling positive, negative, neutral)."""
    rng, seen, rows = random.Random(seed), set(), []
    labels = ("positive", "negative", "neutral")
    while len(rows) < n:
        label = labels[len(rows) % 3]
        text = review(rng, label)
        if text in seen:
            continue
        seen.add(text)
        rows.append({"review": text, "sentiment": label, "split": _split(rng)})
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    """Write rows with a header, LF line endings, UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    """Write ``animals.csv`` and ``reviews.csv`` into ``--out``."""
    parser = argparse.ArgumentParser(description="Generate examples/data/*.csv")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    write_csv(animal_rows(600, args.seed), args.out / "animals.csv")
    write_csv(review_rows(240, args.seed + 1), args.out / "reviews.csv")
    print(f"wrote {args.out / 'animals.csv'} and {args.out / 'reviews.csv'}")


if __name__ == "__main__":
    main()
