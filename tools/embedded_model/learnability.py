"""Can a user's own small task be learned on ``llm-magic/tiny`` with a pasted Ludwig config?

For each task family below, generate training rows and held-out test rows whose key words (the
opinion word, the topic words, the city, the noun, the counted words) never occur in the
training rows, fine-tune through llm_magic's own ``Session.train`` with the config a Ludwig user
pastes (``adapter: {type: lora}``, the default trainer, so the derived defaults for the embedded
model apply), then score greedy exact match on the test rows with ``Session.predict``.

The wordings here are deliberately not the corpus's (``skills.py``): the check measures
learning a new task, not recalling a pretraining template.

    nice -n 5 .venv/bin/python -m tools.embedded_model.learnability            # full table
    .venv/bin/python -m tools.embedded_model.learnability --tasks sentiment --train 120
"""
from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path

from tools.embedded_model import lexicon as L
from tools.embedded_model.skills import made_up_word

Row = tuple[str, str]  # (input text, expected output)


def _split(words, rng: random.Random, test_share: float = 0.35) -> tuple[list, list]:
    words = list(words)
    rng.shuffle(words)
    cut = max(1, round(len(words) * test_share))
    return words[cut:], words[:cut]


def sentiment(rng: random.Random, n_train: int, n_test: int) -> tuple[list[Row], list[Row]]:
    """Two labels from an opinion word; the test rows' opinion words are held out."""
    pools = {v: _split(dict(L.OPINIONS)[v], rng) for v in ("positive", "negative")}
    shapes = ("honestly the {item} felt {w} to me", "our {item} yesterday: {w}",
              "i would call the {item} {w}", "{w}, that is how the {item} was",
              "the {item} we tried turned out {w}")

    def rows(n: int, side: int) -> list[Row]:
        out = []
        for _ in range(n):
            label = rng.choice(("positive", "negative"))
            text = rng.choice(shapes).format(item=rng.choice(L.REVIEWED), w=rng.choice(pools[label][side]))
            out.append((text, label))
        return out

    return rows(n_train, 0), rows(n_test, 1)


def topic(rng: random.Random, n_train: int, n_test: int) -> tuple[list[Row], list[Row]]:
    """Four labels from two topic words; the test rows' topic words are held out."""
    labels = ("sports", "food", "music", "weather")
    pools = {t: _split(dict(L.TOPICS)[t], rng, 0.4) for t in labels}
    shapes = ("a short note mentioning {a} and {b}", "today people keep discussing {a} plus {b}",
              "my friend sent me something on {a}, also {b}", "{a} and {b} were in the news")

    def rows(n: int, side: int) -> list[Row]:
        out = []
        for _ in range(n):
            label = rng.choice(labels)
            a, b = rng.sample(pools[label][side], 2)
            out.append((rng.choice(shapes).format(a=a, b=b), label))
        return out

    return rows(n_train, 0), rows(n_test, 1)


def copy_city(rng: random.Random, n_train: int, n_test: int) -> tuple[list[Row], list[Row]]:
    """Copy the city out of a sentence; test cities are unseen (held-out real ones and made up)."""
    train_cities, test_cities = _split([c for c, _ in L.CITIES], rng, 0.3)
    shapes = ("{p} moved to {c} last spring. Which city did {p} move to?",
              "After a long trip, {p} finally reached {c}. Where did {p} arrive?",
              "The letter from {p} was posted in {c}. Where was it posted?")

    def rows(n: int, cities: list[str], invent: bool) -> list[Row]:
        out = []
        for _ in range(n):
            c = made_up_word(rng, capital=True) if invent and rng.random() < 0.5 else rng.choice(cities)
            p = rng.choice(L.FIRST_NAMES)
            out.append((rng.choice(shapes).format(p=p, c=c), c))
        return out

    return rows(n_train, train_cities, False), rows(n_test, test_cities, True)


def plural(rng: random.Random, n_train: int, n_test: int) -> tuple[list[Row], list[Row]]:
    """The regular plural (+s) of a noun; test nouns are held out."""
    regular = [s for s, p in L.NOUNS if p == s + "s"]
    train_words, test_words = _split(regular, rng, 0.3)

    def rows(n: int, words: list[str]) -> list[Row]:
        return [(f"more than one {w}", w + "s") for w in (rng.choice(words) for _ in range(n))]

    return rows(n_train, train_words), rows(n_test, test_words)


def count(rng: random.Random, n_train: int, n_test: int) -> tuple[list[Row], list[Row]]:
    """How many words (1-5), answered in words; test rows use held-out words."""
    pool = [s for s, _ in L.NOUNS] + list(L.COLORS)
    train_words, test_words = _split(pool, rng, 0.35)

    def rows(n: int, words: list[str]) -> list[Row]:
        out = []
        for _ in range(n):
            k = rng.randrange(1, 6)
            out.append((" ".join(rng.sample(words, k)), L.NUMBER_WORDS[k]))
        return out

    return rows(n_train, train_words), rows(n_test, test_words)


TASKS: dict[str, tuple[Callable, str, str]] = {
    # name: (generator, kind, prompt template)
    "sentiment": (sentiment, "classification", "Customer comment: {text}\nMood of the comment:"),
    "topic": (topic, "classification", "Headline: {text}\nNewspaper section:"),
    "copy_city": (copy_city, "copy", "{text}\nReply:"),
    "plural": (plural, "morphology", "Noun phrase: {text}\nSingle word:"),
    "count": (count, "counting", "Words: {text}\nNumber of words:"),
}

PASTED_CONFIG = """
model_type: llm
base_model: {model}
input_features: [{{name: text, type: text}}]
output_features: [{{name: answer, type: text}}]
prompt:
  template: {template!r}
preprocessing: {{split: {{type: fixed, column: split}}}}
adapter: {{type: lora}}
trainer: {{type: finetune{trainer}}}
generation: {{max_new_tokens: 8}}
"""


def run_task(name: str, n_train: int = 400, n_test: int = 80, seed: int = 0, model: str = "llm-magic/tiny",
             trainer: str = "") -> dict:
    """Fine-tune on one task family with the pasted config; return held-out accuracy and time."""
    import pandas as pd

    from llm_magic.runtime.session import Session
    from llm_magic.runtime.training.loggers import RecordingLogger

    generate, kind, template = TASKS[name]
    rng = random.Random(f"{name}-{seed}")
    train, test = generate(rng, n_train, n_test)
    valid = train[: max(8, n_train // 10)]
    frame = pd.DataFrame(
        [(t, a, 0) for t, a in train] + [(t, a, 1) for t, a in valid] + [(t, a, 2) for t, a in test],
        columns=["text", "answer", "split"])
    session = Session()
    session.set_config(PASTED_CONFIG.format(model=model, template=template,
                                            trainer=trainer))
    derived = {path: value for path, value, _ in session.config.derived}
    started = time.time()
    record = session.train(frame, loggers=[RecordingLogger()])
    seconds = time.time() - started
    test_frame = frame[frame.split == 2].reset_index(drop=True)
    out = session.predict(test_frame)
    responses = [str(r).strip() for r in out["answer_response"]]
    hits = sum(r == a for r, a in zip(responses, test_frame["answer"]))
    session.unload_model()
    return {"task": name, "kind": kind, "accuracy": hits / len(test_frame), "train_seconds": seconds,
            "examples": list(zip(test_frame["text"][:3], responses[:3])),
            "distinct_answers": len(set(responses)), "derived": derived, "run": record}


def recipe_as_yaml() -> str:
    """``TINY_RECIPE`` as extra flow-style trainer keys (", learning_rate: 0.003, ...")."""
    from llm_magic.runtime.embedded.recipe import TINY_RECIPE

    flat, nested = [], {}
    for key, value in TINY_RECIPE:
        if "." in key:
            block, leaf = key.split(".")
            nested.setdefault(block, []).append(f"{leaf}: {value}")
        else:
            flat.append(f"{key}: {value}")
    flat += [f"{block}: {{{', '.join(items)}}}" for block, items in nested.items()]
    return "".join(f", {item}" for item in flat)


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the chosen task families and print a markdown table of held-out exact match."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--train", type=int, default=400, help="training rows per task")
    parser.add_argument("--test", type=int, default=80, help="held-out rows per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="llm-magic/tiny", help="base_model (a folder to compare)")
    parser.add_argument("--trainer", default="", help='extra trainer keys, e.g. ", epochs: 3, batch_size: 8"')
    parser.add_argument("--recipe", action="store_true",
                        help="write the embedded model's derived recipe out explicitly (for a --model "
                             "folder, where it is not derived): the same training as llm-magic/tiny gets")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.recipe:
        args.trainer = recipe_as_yaml() + args.trainer

    import torch

    torch.set_num_threads(args.threads)
    results = []
    print("| task | kind | held-out exact match | distinct answers | training time |")
    print("|---|---|---|---|---|")
    for name in args.tasks.split(","):
        r = run_task(name, args.train, args.test, args.seed, args.model, args.trainer)
        results.append(r)
        print(f"| {name} | {r['kind']} | {r['accuracy']:.1%} | {r['distinct_answers']} | "
              f"{r['train_seconds']:.0f} s |", flush=True)
    print("derived:", {k: v for k, v in results[0]["derived"].items() if k.startswith(("trainer", "adapter"))})
    for r in results:
        print(r["task"], r["examples"])
    return results


if __name__ == "__main__":
    main()
