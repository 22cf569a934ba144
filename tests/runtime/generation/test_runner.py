"""Session-level generation: template, overrides, compare, samples, busy refusal, batch predict."""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError


def config_text(model_dir, *, template="Q: {question}\\nA:", adapter=False, extra=""):
    lines = [
        "model_type: llm",
        f"base_model: {model_dir}",
        "input_features: [{name: question, type: text}]",
        "output_features: [{name: answer, type: text}]",
        f'prompt: {{template: "{template}"}}',
        "generation: {max_new_tokens: 8, do_sample: false}",
    ]
    if adapter:
        lines += ["adapter: {type: lora, r: 4}", "trainer: {type: finetune}"]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def tiny_session(session, tiny_dir):
    session.set_config(config_text(tiny_dir))
    return session


def test_generate_uses_the_prompt_template(tiny_session):
    result = tiny_session.generate("what is two plus two?")
    assert result.prompt == "Q: what is two plus two?\nA:"
    assert 0 < result.tokens <= 8
    assert result.settings["max_new_tokens"] == 8 and result.settings["do_sample"] is False


def test_raw_skips_the_template(tiny_session):
    assert tiny_session.generate("just this", raw=True).prompt == "just this"


def test_greedy_same_text_every_time(tiny_session):
    texts = {tiny_session.generate("The quick brown fox", seed=s).text for s in (1, 2)}
    assert len(texts) == 1


def test_overrides_are_validated_and_used(tiny_session):
    result = tiny_session.generate("hi", max_new_tokens=3, min_new_tokens=3)
    assert result.tokens == 3 and result.settings["max_new_tokens"] == 3
    with pytest.raises(LlmMagicError, match="top_p"):
        tiny_session.generate("hi", top_p=2.0)
    with pytest.raises(LlmMagicError, match="temperature"):
        tiny_session.generate("hi", temprature=0.5)


def test_multi_column_template_reads_yaml_lines(session, tiny_dir):
    from llm_magic.runtime.generation.runner import generate_samples

    session.set_config(config_text(tiny_dir, template="Context: {context}\\nQ: {question}\\nA:"))
    result = generate_samples(session, "context: the sky is blue\nquestion: what colour is the sky?")[0]
    assert result.prompt == "Context: the sky is blue\nQ: what colour is the sky?\nA:"
    with pytest.raises(LlmMagicError, match="context"):
        generate_samples(session, "question: only this")
    with pytest.raises(LlmMagicError, match="column: value"):
        generate_samples(session, "plain text, not a mapping")


def test_samples_use_consecutive_seeds(session, tiny_dir):
    from llm_magic.runtime.generation.runner import generate_samples

    session.set_config(config_text(tiny_dir))
    results = generate_samples(session, "hello", n=3, seed=10,
                               overrides={"do_sample": True, "temperature": 1.5, "min_new_tokens": 8})
    assert [r.seed for r in results] == [10, 11, 12]
    assert len(set(results.texts)) > 1
    assert [r.label for r in results] == ["sample #1", "sample #2", "sample #3"]


def test_compare_needs_an_adapter(tiny_session):
    from llm_magic.runtime.generation.runner import generate_samples

    with pytest.raises(LlmMagicError, match="adapter"):
        generate_samples(tiny_session, "hello", compare=True)


def test_compare_base_and_finetuned_differ_with_a_trained_adapter(session, tiny_dir):
    import torch

    from llm_magic.runtime.generation.runner import generate_samples

    session.set_config(config_text(tiny_dir, adapter=True))
    model = session.load_model().model
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)  # a "trained" adapter: B is no longer zero
    results = generate_samples(session, "The quick brown fox", compare=True, seed=5,
                               overrides={"min_new_tokens": 8})
    assert [r.label for r in results] == ["base", "fine-tuned"]
    assert results.base[0].text != results.tuned[0].text
    assert results.base[0].seed == results.tuned[0].seed == 5
    # The adapter is active again after the comparison.
    assert session.generate("The quick brown fox", min_new_tokens=8).text == results.tuned[0].text


def test_generation_refused_while_training(tiny_session):
    tiny_session.busy_reason = "a training run is in progress"
    with pytest.raises(LlmMagicError, match="Cannot generate now"):
        tiny_session.generate("hi")


def test_interrupt_keeps_partial_result_and_session_usable(tiny_session):
    def stop(text):
        raise KeyboardInterrupt

    result = tiny_session.generate("hello", max_new_tokens=200, min_new_tokens=200, on_text=stop)
    assert result.interrupted and 0 < result.tokens < 200
    assert tiny_session.generation.last[0] is result
    assert tiny_session.generate("hello", max_new_tokens=4, min_new_tokens=4).tokens == 4


def test_predict_text_output(tiny_session):
    df = pd.DataFrame({"question": ["a b", "the quick brown fox jumps", "c"]})
    done = []
    from llm_magic.runtime.generation.runner import predict

    out = predict(tiny_session, df, batch_size=2, progress=done.append)
    assert list(out.columns) == ["question", "prompt", "answer_response"]
    assert out["prompt"][1] == "Q: the quick brown fox jumps\nA:"
    assert done == [2, 1]
    # Batched greedy output equals one-by-one generation.
    assert out["answer_response"][1] == tiny_session.generate("the quick brown fox jumps").text


def test_predict_category_output_maps_labels(session, tiny_dir):
    text = config_text(tiny_dir).replace(
        "output_features: [{name: answer, type: text}]",
        "output_features:\n"
        "  - name: label\n    type: category\n"
        "    preprocessing: {vocab: [positive, negative], fallback_label: neutral}\n"
        "    decoder: {type: category_extractor, constrain_to_vocabulary: true}",
    )
    session.set_config(text)
    df = pd.DataFrame({"question": ["great movie", "awful movie", "ok movie"]})
    out = session.predict(df, batch_size=3, do_sample=True, seed=0)
    assert set(out["label_predictions"]) <= {"positive", "negative", "neutral"}
    from llm_magic.runtime.generation.labels import map_to_label

    output = session.config.output_feature
    assert list(out["label_predictions"]) == [map_to_label(t, output) for t in out["label_response"]]
    # constrain_to_vocabulary: every answer is a whole label (the fallback is one too).
    assert set(out["label_response"].str.strip()) <= {"positive", "negative", "neutral"}


def test_predict_batch_size_is_automatic_unless_set(tiny_session):
    from llm_magic.runtime.config import load_config
    from llm_magic.runtime.generation.runner import prediction_batch_size

    # The trainer's default eval_batch_size (2) is for validation: prediction sizes from memory.
    assert prediction_batch_size(tiny_session.config) is None
    assert prediction_batch_size(tiny_session.config, 7) == 7
    raw = tiny_session.config.to_dict()
    raw["trainer"] = {"type": "none", "eval_batch_size": 5}
    assert prediction_batch_size(load_config(raw)) == 5
    raw["trainer"] = {"type": "none", "eval_batch_size": "auto"}
    assert prediction_batch_size(load_config(raw)) is None
    with pytest.raises(LlmMagicError, match="batch-size"):
        prediction_batch_size(tiny_session.config, 0)


def test_chat_template_prompt_gets_no_second_bos(session, tiny_dir, monkeypatch):
    text = config_text(tiny_dir).replace('prompt: {template: "Q: {question}\\nA:"}',
                                         'prompt: {template: "Q: {question}", chat_template: true}')
    session.set_config(text)
    from tokenizers import processors

    bundle = session.load_model()
    # Make the tokenizer add BOS itself, as Llama's does: the chat text already starts with one.
    bos = bundle.tokenizer.bos_token_id
    monkeypatch.setattr(bundle.tokenizer._tokenizer, "post_processor",
                        processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)]))
    bundle.tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}[user] {{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %} [bot]{% endif %}"
    )
    seen = []
    original = bundle.model.generate

    def spy(*args, **kwargs):
        seen.append(kwargs["input_ids"][0].tolist())
        return original(*args, **kwargs)

    monkeypatch.setattr(bundle.model, "generate", spy)
    result = session.generate("hi there", max_new_tokens=2)
    assert result.prompt == "<s>[user] Q: hi there [bot]"
    assert seen[0][0] == bos and seen[0][1] != bos
    # Raw text is not chat-wrapped, so the tokenizer adds the BOS.
    assert session.generate("<s>x", raw=True, max_new_tokens=1) and seen[-1][:2] == [bos, bos]


def test_interrupted_predict_returns_finished_rows(tiny_session, monkeypatch):
    df = pd.DataFrame({"question": ["a b", "c", "the quick brown fox", "d", "e"]})
    full = tiny_session.predict(df, batch_size=2)
    model = tiny_session.load_model().model
    original, calls = model.generate, []

    def generate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the kernel's stop button during the second batch
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate)
    try:
        with pytest.warns(UserWarning, match="2 of 5 rows"):
            out = tiny_session.predict(df, batch_size=2)
    except KeyboardInterrupt:  # escaping would abort the whole pytest run
        pytest.fail("Session.predict let the KeyboardInterrupt escape and dropped the finished rows")
    assert len(out) == 2 and out.attrs["interrupted"] and out.attrs["rows_total"] == 5
    # Longest prompts run first: the finished rows are the two longest, kept in row order.
    assert list(out["question"]) == ["a b", "the quick brown fox"]
    assert list(out["answer_response"]) == list(full.loc[out.index, "answer_response"])
    assert not full.attrs["interrupted"] and full.attrs["rows_total"] == 5
    # The session still predicts afterwards (the patched generate only stops its 2nd call).
    assert list(tiny_session.predict(df, batch_size=2)["answer_response"]) == list(full["answer_response"])
