"""Generation cuts a prompt to the input feature's sequence limits exactly as training does."""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.runtime.data.tokenize import SequenceLimits, cut_prompt_for_generation

N = 12
QUESTIONS = [
    "what colour is the sky on a clear summer day over the sea?",
    "name three animals that live in the cold water of the north.",
    "hi",
    "how many legs does a spider have, and how many does an ant have?",
    "why do leaves change colour in the autumn before they fall down?",
]


def config_text(model_dir, limit_key: str) -> str:
    return (
        "model_type: llm\n"
        f"base_model: {model_dir}\n"
        f"input_features: [{{name: question, type: text, preprocessing: {{{limit_key}: {N}}}}}]\n"
        "output_features: [{name: answer, type: text}]\n"
        'prompt: {template: "Q: {question}\\nA:"}\n'
        "generation: {max_new_tokens: 2, do_sample: false}\n"
    )


def training_prompt_ids(config, tokenizer) -> dict[str, list[int]]:
    """Question -> the prompt tokens the data pipeline trains on (labels -100 mark the prompt)."""
    from llm_magic.runtime.data.prepare import prepare_data

    frame = pd.DataFrame({"question": QUESTIONS, "answer": ["an answer"] * len(QUESTIONS)})
    prepared = prepare_data(config, tokenizer, frame)
    out = {}
    for split, tokenized in prepared.tokenized.items():
        for position, index in enumerate(prepared.frames[split].index):
            row = tokenized[position]
            out[frame.loc[index, "question"]] = [
                i for i, label in zip(row["input_ids"], row["labels"]) if label == -100
            ]
    assert len(out) == len(QUESTIONS)
    return out


@pytest.fixture
def fed_to_generate(monkeypatch):
    """Record the unpadded prompt ids of every row that reaches ``model.generate``."""
    seen: list[list[int]] = []

    def watch(model):
        original = model.generate

        def generate(*args, **kwargs):
            ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
            for row, keep in zip(ids.tolist(), mask.tolist()):
                seen.append([i for i, k in zip(row, keep) if k])
            return original(*args, **kwargs)

        monkeypatch.setattr(model, "generate", generate)
        return seen

    return watch


@pytest.mark.parametrize("limit_key, keeps", [("max_sequence_length", "end"), ("sequence_length", "start")])
def test_generate_and_predict_see_the_training_cut(session, tiny_dir, fed_to_generate, limit_key, keeps):
    session.set_config(config_text(tiny_dir, limit_key))
    bundle = session.load_model()
    tokenizer = bundle.tokenizer
    trained = training_prompt_ids(session.config, tokenizer)
    seen = fed_to_generate(bundle.model)

    question = QUESTIONS[0]
    full = tokenizer(f"Q: {question}\nA:")["input_ids"]
    assert len(full) > N, "the test prompt must be long enough to be cut"
    result = session.generate(question)
    assert seen[-1] == trained[question] == (full[-N:] if keeps == "end" else full[:N])
    assert result.prompt == tokenizer.decode(trained[question])

    seen.clear()
    frame = session.predict(pd.DataFrame({"question": QUESTIONS}), batch_size=3)
    assert len(frame) == len(QUESTIONS) and len(seen) == len(QUESTIONS)
    # Batches run longest prompt first: compare as a multiset, each prompt cut as training cut it.
    assert sorted(seen) == sorted(trained[q] for q in QUESTIONS)
    assert any(len(ids) < N for ids in seen), "a short prompt stays whole (and is left-padded)"


def test_raw_prompts_are_not_cut(session, tiny_dir, fed_to_generate):
    session.set_config(config_text(tiny_dir, "max_sequence_length"))
    bundle = session.load_model()
    seen = fed_to_generate(bundle.model)
    text = QUESTIONS[0]
    session.generate(text, raw=True)
    assert seen[-1] == bundle.tokenizer(text)["input_ids"]


def test_the_cut_keeps_a_leading_bos_and_applies_the_global_limit_to_the_prompt():
    bos = 1
    ids = [bos] + list(range(10, 20))
    assert cut_prompt_for_generation(ids, SequenceLimits(max_input=4), bos) == [bos, 17, 18, 19]
    assert cut_prompt_for_generation(ids, SequenceLimits(max_input=4, keep_prompt_start=True), bos) == ids[:4]
    assert cut_prompt_for_generation(ids, SequenceLimits(max_total=3), bos) == [bos, 18, 19]
    assert cut_prompt_for_generation(ids, SequenceLimits(), bos) == ids


def test_evaluation_answers_the_prompts_training_saw(session, tiny_dir, fed_to_generate):
    """The generated metrics (exact match, BLEU, ROUGE) score answers to the cut prompts."""
    session.set_config(config_text(tiny_dir, "sequence_length"))
    bundle = session.load_model()
    trained = training_prompt_ids(session.config, bundle.tokenizer)
    seen = fed_to_generate(bundle.model)
    frame = pd.DataFrame({"question": QUESTIONS, "answer": ["an answer"] * len(QUESTIONS)})
    session.evaluate(frame, split="train")
    assert seen and all(ids in trained.values() for ids in seen)
    assert any(len(ids) == N for ids in seen)
