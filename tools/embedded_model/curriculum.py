"""Continue pretraining an existing ``llm-magic/tiny`` build on a copy-heavy curriculum.

Why: the third build learnt which words are positive or about sports, but no copying mechanism
(induction heads): "Repeat after me: Toronto" -> "Lisbon", and the learnability check's
copy-a-city task stayed at 0 % (issue 20). Training it again from scratch for longer costs ~35
minutes of a shared CPU thread per try, so this starts from the shipped weights, keeps its
tokenizer and shape (so the package size stays the same), and trains on text where copying is
what predicts the next tokens:

- phase 1 (``copy``): synthetic induction blocks (random token spans repeated later in the same
  short block, where induction heads form fastest), word-level copy documents (made-up words,
  names, cities and word runs repeated in question/answer frames), and a share of the v3 mixture;
- phase 2 (``mix``): the v3 mixture (a fresh seed) with copy documents beside it, so the
  classification skills the third build has are kept.

Blocks are short (the documents are ~30 tokens) for more optimizer steps per CPU minute. A small
held-out probe (loss on the repeated half of random spans, greedy copies of made-up words) is
logged during training to see whether induction forms. Called by ``pretrain.py --curriculum
copy --init-from FOLDER``; everything is seeded.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator

from tools.embedded_model import lexicon as L
from tools.embedded_model.corpus import iter_documents
from tools.embedded_model.skills import city, copy_doc, framed, lookup_doc, made_up_word, person

# Narrative frames that put a span in a sentence and ask for it back. Deliberately not the
# learnability check's wordings ("moved to", "reached", "posted in"), so the check still measures
# a new task, not a recalled template.
_SPAN_SENTENCES: tuple[tuple[str, str], ...] = (
    ("{p} was born in {c}.", "Where was {p} born?"),
    ("{p} spent the summer in {c}.", "Where did {p} spend the summer?"),
    ("The train to {c} left at noon.", "Where was the train going?"),
    ("Our team played a game in {c} on {d}.", "Which city was the game in?"),
    ("{p} bought a small house in {c}.", "In which city is the house?"),
    ("A storm hit {c} last night.", "Which place did the storm hit?"),
    ("The new shop is called {c}.", "What is the shop called?"),
    ("My cat is named {c}.", "What is the name of the cat?"),
    ("{p} works at a school in {c}.", "Where is the school?"),
    ("We drove from {c} to the sea.", "Where did we drive from?"),
    ("The word of the day is {c}.", "What is the word of the day?"),
    ("{p} called the baby {c}.", "What is the baby called?"),
)


def _span(rng: random.Random) -> str:
    """Something to copy: mostly made-up (so only the context can predict it), else known."""
    roll = rng.random()
    if roll < 0.5:
        return made_up_word(rng, capital=True)
    if roll < 0.7:
        return city(rng)
    if roll < 0.85:
        return person(rng)
    return made_up_word(rng, capital=rng.random() < 0.5) + _pick_suffix(rng)


def _pick_suffix(rng: random.Random) -> str:
    return rng.choice(("", "", str(rng.randrange(2, 100)), made_up_word(rng)))


def span_question_doc(rng: random.Random) -> str:
    """A sentence naming a span (often made up), filler around it, then a question asking it back."""
    return span_question(rng)[0]


def span_question(rng: random.Random) -> tuple[str, str]:
    """``span_question_doc``'s document and the span it ends with."""
    said, asked = rng.choice(_SPAN_SENTENCES)
    span, who = _span(rng), rng.choice(L.FIRST_NAMES)
    context = said.format(p=who, c=span, d=rng.choice(L.DAYS))
    if rng.random() < 0.4:
        other = made_up_word(rng, capital=True)
        context = rng.choice((f"{context} {other} was far away.", f"{other} was quiet. {context}"))
    return framed(rng, context, asked.format(p=who), span), span


def word_run_doc(rng: random.Random) -> str:
    """A run of random words (real and made up) and the same run again: copying, nothing else."""
    pool = (L.COMMON_NOUNS, L.COLORS, L.FIRST_NAMES, tuple(c for c, _ in L.CITIES))
    words = [made_up_word(rng) if rng.random() < 0.4 else rng.choice(rng.choice(pool))
             for _ in range(rng.randrange(3, 10))]
    run = " ".join(words)
    sep = rng.choice((" | ", "\n", ". Again: ", " -> ", "\nCopy: "))
    return f"{run}{sep}{run}"


# (name, generator, weight) of the text copy documents.
COPY_DOCS: tuple[tuple[str, Callable[[random.Random], str], float], ...] = (
    ("span_question", span_question_doc, 0.4),
    ("word_run", word_run_doc, 0.25),
    ("copy", copy_doc, 0.2),
    ("lookup", lookup_doc, 0.15),
)


_PLACE_VERBS = ("visited", "flew to", "lived in", "worked in", "stayed in", "drove to", "studied in")
_LABELS = ("Answer:", "Output:", "City:", "Place:", "A:", "Response:", "Result:")


def label_copy_doc(rng: random.Random) -> str:
    """Two or three people and places, a question about one, the place right after a label.

    Why: a fine-tune's target is tokenised without its leading space, so the answer's first token
    ("S" of "Sulabi") is not any token of the context (" S"); these documents put the span right
    after a label or a newline, with distractor places, so the model learns to pick the asked one
    and start it without the space.
    """
    n = rng.randrange(2, 4)
    people = rng.sample(L.FIRST_NAMES, n)
    places = [made_up_word(rng, capital=True) if rng.random() < 0.5 else rng.choice(L.CITIES)[0]
              for _ in people]
    facts = [f"{p} {rng.choice(_PLACE_VERBS)} {c}." for p, c in zip(people, places)]
    i = rng.randrange(n)
    question = rng.choice((f"Which place is about {people[i]}?", f"Where was {people[i]}?",
                           f"Name the city of {people[i]}."))
    return f"{' '.join(facts)} {question}\n{rng.choice(_LABELS)}{rng.choice(('', '', chr(10)))}{places[i]}"


def label_documents(seed: int) -> Iterator[str]:
    """An endless, seeded stream of ``label_copy_doc`` documents."""
    rng = random.Random(f"label-{seed}")
    while True:
        yield label_copy_doc(rng)


def copy_documents(seed: int) -> Iterator[str]:
    """An endless, seeded stream of text copy documents (``COPY_DOCS``)."""
    rng = random.Random(f"copy-{seed}")
    gens, weights = [g for _, g, _ in COPY_DOCS], [w for _, _, w in COPY_DOCS]
    while True:
        yield rng.choices(gens, weights=weights)[0](rng)


def mixture_documents(seed: int) -> Iterator[str]:
    """An endless stream of v3-mixture documents, from seeds the shipped build did not use."""
    round_ = 0
    while True:
        round_ += 1
        yield from iter_documents(40000, seed * 1000 + round_, "v3")


def induction_block(rng: random.Random, block_size: int, vocab_lo: int, vocab_hi: int,
                    bos: int, eos: int) -> tuple[list[int], list[int]]:
    """``block_size`` token ids and labels: episodes of a random span, a random gap, the span again.

    Only the repeats are labelled (the rest is -100, not scored): the random tokens themselves
    are unpredictable, and training on them measurably pulled the model's output distribution
    towards uniform (held-out story loss 2.81 -> 3.66 in 40 steps). Scored this way the loss
    rewards exactly the induction mechanism (find the earlier occurrence of the current token,
    copy what followed it).
    """
    ids: list[int] = []
    labels: list[int] = []
    while len(ids) < block_size:
        span = [rng.randrange(vocab_lo, vocab_hi) for _ in range(rng.randrange(4, 17))]
        gap = [rng.randrange(vocab_lo, vocab_hi) for _ in range(rng.randrange(0, 9))]
        ids += [bos] + span + gap + span + [eos]
        # The repeat's first token follows the gap (unpredictable); the rest can be copied.
        labels += [-100] * (1 + len(span) + len(gap) + 1) + span[1:] + [-100]
    return ids[:block_size], labels[:block_size]


class BlockStream:
    """Seeded training blocks drawn from weighted sources: ``induction`` or a document stream.

    Documents are packed as ``<s> doc </s>`` into rows of ``block_size`` tokens, one buffer per
    source, so a row comes from one source and the share of each is what ``weights`` says.
    """

    def __init__(self, tokenizer, block_size: int, weights: dict[str, float], seed: int) -> None:
        self.tokenizer, self.block_size = tokenizer, block_size
        self.rng = random.Random(f"blocks-{seed}")
        self.names = [k for k, w in weights.items() if w > 0]
        self.weights = [weights[k] for k in self.names]
        self.streams = {"copy": copy_documents(seed), "mix": mixture_documents(seed),
                        "label": label_documents(seed)}
        self.buffers: dict[str, list[int]] = {name: [] for name in self.streams}

    def _text_block(self, name: str) -> list[int]:
        buf = self.buffers[name]
        while len(buf) < self.block_size:
            docs = [next(self.streams[name]) for _ in range(32)]
            for enc in self.tokenizer(docs, add_special_tokens=True)["input_ids"]:
                buf += enc + [self.tokenizer.eos_token_id]
        block, self.buffers[name] = buf[: self.block_size], buf[self.block_size:]
        return block

    def next_batch(self, batch_size: int):
        """Two ``(batch_size, block_size)`` LongTensors: token ids and labels (-100: not scored)."""
        import torch

        rows, labels = [], []
        for _ in range(batch_size):
            name = self.rng.choices(self.names, weights=self.weights)[0]
            if name == "induction":
                tok = self.tokenizer
                ids, lab = induction_block(self.rng, self.block_size, 3, len(tok),
                                           tok.bos_token_id, tok.eos_token_id)
            else:
                ids = lab = self._text_block(name)
            rows.append(ids)
            labels.append(lab)
        return torch.tensor(rows), torch.tensor(labels)


def copy_probe(model, tokenizer, n: int = 40, seed: int = 4321) -> dict:
    """Held-out copying, without fine-tuning: induction loss and greedy copy accuracy.

    ``induction_loss``: mean loss on the second occurrence of 24 random 12-token spans (about
    8.3 nats when nothing is copied, near 0 with working induction heads); ``copy_accuracy``:
    share of "<made-up word> ... question" prompts in corpus frames answered with the word.
    """
    import torch

    rng = random.Random(seed)
    model.eval()
    losses = []
    with torch.no_grad():
        for _ in range(24):
            span = [rng.randrange(3, len(tokenizer)) for _ in range(12)]
            ids = torch.tensor([[tokenizer.bos_token_id] + span + span])
            logits = model(input_ids=ids).logits[0, :-1]
            targets = ids[0, 1:]
            loss = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
            losses.append(loss[13:].mean().item())  # the predictions of the repeated span
        hits = 0
        for i in range(n):
            word = made_up_word(rng, capital=True)
            prompt = (f"Repeat after me: {word}\nOutput:" if i % 2 else
                      f"Question: The name on the door is {word}. What is the name on the door?\nAnswer:")
            enc = tokenizer(prompt, return_tensors="pt")
            out = model.generate(**enc, max_new_tokens=8, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            text = tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            hits += text.strip().split("\n")[0].strip() == word
    model.train()
    return {"induction_loss": round(sum(losses) / len(losses), 3), "copy_accuracy": hits / n}


# Phase weights by source. Phase 1 is mostly copying; phase 2 mostly the v3 mixture.
PHASES = {
    "copy": {"induction": 0.45, "copy": 0.35, "mix": 0.2},
    "mix": {"induction": 0.1, "copy": 0.3, "mix": 0.6},
}
# ``--curriculum labels``: phase 2 only, with the label-copy documents (``label_copy_doc``).
LABEL_PHASES = {
    "copy": PHASES["copy"],
    "mix": {"induction": 0.05, "copy": 0.15, "label": 0.25, "mix": 0.55},
}


def continue_pretraining(model, tokenizer, *, steps: int, phase1_share: float, batch_size: int,
                         block_size: int, lr: float, warmup: int, seed: int, probe_every: int,
                         phases: dict | None = None, deadline: float | None = None, log: Callable[[str], None] = print) -> dict:
    """Train ``model`` in place for ``steps`` steps (phase 1 for ``phase1_share`` of them).

    AdamW with linear warm-up and a cosine decay to 0 over all steps, gradient clipping 1.0.
    Returns the record for ``build_info.json``: steps done, loss curve (every 10 steps) and the
    probe's curve. Stops early once ``time.time()`` passes ``deadline``.
    """
    import torch

    torch.manual_seed(seed)
    phase1_steps = round(steps * phase1_share)
    streams = {name: BlockStream(tokenizer, block_size, w, seed + i)
               for i, (name, w) in enumerate((phases or PHASES).items())}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    probe = copy_probe(model, tokenizer)
    log(f"probe before: {probe}")
    loss_curve, probe_curve = [], [[0, probe]]
    model.train()
    running, started, done = [], time.time(), 0
    for step in range(steps):
        if deadline is not None and time.time() > deadline:
            log(f"deadline reached after {step} steps")
            break
        batch, labels = streams["copy" if step < phase1_steps else "mix"].next_batch(batch_size)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = model(input_ids=batch, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        running.append(loss.item())
        done = step + 1
        if done % 10 == 0:
            loss_curve.append([done, round(sum(running) / len(running), 3)])
            running = []
            log(f"step {done} loss {loss_curve[-1][1]} lr {lr_at(step):.2e} "
                f"{(time.time() - started) / done:.2f} s/step")
        if done % probe_every == 0 or done == phase1_steps:
            probe = copy_probe(model, tokenizer)
            probe_curve.append([done, probe])
            log(f"probe at {done}: {probe}")
    if probe_curve[-1][0] != done:
        probe_curve.append([done, copy_probe(model, tokenizer)])
    model.eval()
    return {"steps": done, "phase1_steps": min(done, phase1_steps), "loss_curve": loss_curve,
            "probe_curve": probe_curve, "seconds": round(time.time() - started)}
