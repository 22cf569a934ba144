"""PromptRenderer: every template feature, character for character, and its errors."""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import PromptRenderer, RandomRetriever

ROW = pd.Series({"instruction": "Translate:\n\"chat\" -> ?", "output": "cat", "lang": "fr",
                 "price": 3.14159, "n": 7})


def render(make_config, template=None, task=None, **prompt):
    config = make_config(prompt={"template": template, "task": task, **prompt})
    return PromptRenderer(config).render(ROW)


def test_columns_any_number(make_config):
    assert render(make_config, "[{lang}] {instruction} ({n}, {lang})") == \
        "[fr] Translate:\n\"chat\" -> ? (7, fr)"


def test_float_format_spec(make_config):
    assert render(make_config, "{lang} costs {price:.2f}, n={n:.1f}") == "fr costs 3.14, n=7.0"


def test_sample_is_the_raw_input_text(make_config):
    # Not JSON-escaped as in Ludwig: the newline and quotes stay as they are.
    assert render(make_config, "<<{__sample__}>>") == "<<Translate:\n\"chat\" -> ?>>"


def test_task(make_config):
    assert render(make_config, "{__task__}\n{__sample__}", task="Do it.") == \
        "Do it.\nTranslate:\n\"chat\" -> ?"


def test_doubled_braces_are_literal(make_config):
    assert render(make_config, '{{"lang": "{lang}"}} {{}}') == '{"lang": "fr"} {}'


def test_default_zero_shot_template(make_config):
    assert render(make_config, task="Translate to English.") == (
        "SAMPLE INPUT: Translate:\n\"chat\" -> ?\n"
        "\n"
        "USER: Complete the following task: Translate to English.\n"
        "\n"
        "ASSISTANT:\n"
    )


def test_no_template_no_task_passes_input_through(make_config):
    assert render(make_config) == "Translate:\n\"chat\" -> ?"
    spans = PromptRenderer(make_config()).render_spans(ROW)
    assert spans == [("Translate:\n\"chat\" -> ?", "sample", "instruction")]


def test_context_and_default_few_shot_template(make_config):
    train = pd.DataFrame({"instruction": ["one", "two"], "output": ["1", "2"]})
    config = make_config(prompt={"task": "Number it.", "retrieval": {"type": "random", "k": 2}},
                         preprocessing={"split": {"type": "fixed"}})
    retriever = RandomRetriever(list(train["instruction"]), list(train["output"]), 2,
                                "instruction", "output")
    renderer = PromptRenderer(config, retriever=retriever)
    text = renderer.render(pd.Series({"instruction": "three", "output": "3"}))
    examples = {"instruction: one\noutput: 1", "instruction: two\noutput: 2"}
    context = text.split("CONTEXT:\n", 1)[1].split("\n\nEach example", 1)[0]
    assert set(context.split("\n\n")) == examples
    assert text.startswith("Below are labelled examples that resemble the sample input.\n\nCONTEXT:\n")
    assert text.endswith(
        "SAMPLE INPUT: three\n\nUSER: Complete the following task: Number it.\n\nASSISTANT:\n")


def test_context_in_user_template(make_config):
    config = make_config(prompt={"template": "{__context__}\n---\n{__sample__} =>",
                                 "retrieval": {"type": "random", "k": 1}},
                         preprocessing={"split": {"type": "fixed"}})
    retriever = RandomRetriever(["one"], ["1"], 1, "instruction", "output")
    text = PromptRenderer(config, retriever=retriever).render({"instruction": "two"})
    assert text == "instruction: one\noutput: 1\n---\ntwo =>"


def test_spans_mark_each_part(make_config):
    config = make_config(prompt={"template": "{{x}} {__task__}: {lang}/{__sample__}!", "task": "T"})
    spans = PromptRenderer(config).render_spans(ROW)
    assert spans == [
        ("{x} ", "template", None),
        ("T", "task", "__task__"),
        (": ", "template", None),
        ("fr", "column", "lang"),
        ("/", "template", None),
        ("Translate:\n\"chat\" -> ?", "sample", "instruction"),
        ("!", "template", None),
    ]
    assert "".join(s.text for s in spans) == PromptRenderer(config).render(ROW)


def test_renders_dict_rows(make_config):
    config = make_config(prompt={"template": "{lang}"})
    assert PromptRenderer(config).render({"lang": "de"}) == "de"


@pytest.mark.parametrize("template, task, message", [
    ("{lang", None, r"not a valid template.*\{\{ and \}\}"),
    ("a } b {lang}", None, r"not a valid template"),
    ("{} {lang}", None, r"empty placeholder \{\}"),
    ("{0} {lang}", None, r"placeholder \{0\} has no name"),
    ("{lang!r}", None, r"\{lang!r\} uses a conversion \(!r\)"),
    ("{n:>5}", None, r"\{n:>5\}: only float formats"),
    ("{a.b}", None, r"use \{a_b\}"),
    ("{__samples__}", None, r"unknown special placeholder \{__samples__\}"),
    ("no placeholders", None, r"no placeholder"),
    ("Do: {__task__}", "T", r"uses no column"),
    ("{__sample__} {output}", None, r"uses the output column \{output\}"),
    ("{lang}", "T", r"must contain \{__task__\}"),
])
def test_bad_templates(make_config, template, task, message):
    with pytest.raises(LlmMagicError, match=message):
        PromptRenderer(make_config(prompt={"template": template, "task": task}))


def test_missing_column_named_with_columns_listed(make_config):
    renderer = PromptRenderer(make_config(prompt={"template": "{question} / {__sample__}"}))
    df = pd.DataFrame({"instruction": ["x"], "output": ["y"]})
    with pytest.raises(LlmMagicError) as info:
        renderer.check_columns(df)
    assert "'question' (used by {question} in prompt.template)" in str(info.value)
    assert "Columns in the data: instruction, output" in str(info.value)
    with pytest.raises(LlmMagicError, match=r"\{question\} needs column 'question'.*instruction, output"):
        renderer.render(df.iloc[0])


def test_float_spec_on_text_is_a_clear_error(make_config):
    renderer = PromptRenderer(make_config(prompt={"template": "{lang:.2f}"}))
    with pytest.raises(LlmMagicError, match=r"\{lang:.2f\} needs a number, but column 'lang' holds 'fr'"):
        renderer.render(ROW)


CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def test_chat_template_wraps_the_prompt(make_config, tokenizer):
    import copy

    chat_tok = copy.deepcopy(tokenizer)  # the session-wide tokenizer stays without a chat template
    chat_tok.chat_template = CHAT
    config = make_config(prompt={"template": "Say {lang}", "chat_template": True})
    renderer = PromptRenderer(config, tokenizer=chat_tok)
    assert renderer.render(ROW) == "<|user|>Say fr<|end|><|assistant|>"
    expected = chat_tok.apply_chat_template([{"role": "user", "content": "Say fr"}],
                                            add_generation_prompt=True, tokenize=False)
    assert renderer.render(ROW) == expected
    assert renderer.render_spans(ROW)[0] == ("<|user|>", "chat", None)


def test_chat_template_missing_is_a_clear_error(make_config, tokenizer):
    config = make_config(prompt={"template": "Say {lang}", "chat_template": True})
    with pytest.raises(LlmMagicError, match="has no chat template.*chat_template: false"):
        PromptRenderer(config, tokenizer=tokenizer).render(ROW)
    with pytest.raises(LlmMagicError, match="needs the model's tokenizer"):
        PromptRenderer(config).render(ROW)
