"""prepare_data: the whole pipeline, from a DataFrame to tokenised splits."""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import prepare_data


def _frame(n=20):
    return pd.DataFrame({
        "instruction": [f"question {i}" for i in range(n)],
        "output": [f"answer {i}" for i in range(n)],
        "split": [0] * (n - 4) + [1, 1, 2, 2],
    })


def test_pipeline_renders_and_tokenizes_each_split(make_config, tokenizer):
    config = make_config(prompt={"template": "Q: {instruction}\nA:"},
                         preprocessing={"split": {"type": "fixed"}})
    prepared = prepare_data(config, tokenizer, _frame())
    assert {k: len(v) for k, v in prepared.rows.items()} == {"train": 16, "validation": 2, "test": 2}
    test = prepared.frames["test"]
    assert list(test.index) == [18, 19]
    assert list(test["prompt"]) == ["Q: question 18\nA:", "Q: question 19\nA:"]
    assert list(test["target"]) == ["answer 18", "answer 19"]
    row = prepared.tokenized["test"][0]
    prompt_len = len(tokenizer("Q: question 18\nA:")["input_ids"])
    assert row["labels"][:prompt_len] == [-100] * prompt_len
    assert row["labels"][-1] == tokenizer.eos_token_id
    assert prepared.truncation["train"].rows == 16
    assert prepared.summary().startswith("Rows: train 16, validation 2, test 2.")


def test_missing_values_and_limits_are_reported(make_config, tokenizer):
    df = _frame()
    df.loc[0, "output"] = None
    df.loc[1, "instruction"] = None
    config = make_config(
        input_features=[{"name": "instruction", "type": "text",
                         "preprocessing": {"fill_value": "", "max_sequence_length": 3}}],
        prompt={"template": "Q: {instruction}\nA:"}, preprocessing={"split": {"type": "fixed"}})
    prepared = prepare_data(config, tokenizer, df)
    assert prepared.cleaning.dropped == {"output": 1} and prepared.cleaning.filled == {"instruction": 1}
    assert prepared.frames["train"].loc[1, "prompt"] == "Q: \nA:"
    assert 0 not in prepared.rows["train"].index
    assert prepared.truncation["train"].rows_truncated == 15
    summary = prepared.summary()
    assert "dropped 1 row with no value in 'output'" in summary
    assert "train: 15 of 15 rows truncated" in summary


def test_retrieval_context_comes_from_train_rows_only(make_config, tokenizer):
    config = make_config(prompt={"template": "{__context__}\n>> {__sample__}",
                                 "retrieval": {"type": "random", "k": 3}},
                         preprocessing={"split": {"type": "fixed"}})
    prepared = prepare_data(config, tokenizer, _frame())
    train_inputs = set(prepared.rows["train"]["instruction"])
    for split in ("train", "test"):
        for index, prompt in prepared.frames[split]["prompt"].items():
            context, sample = prompt.split("\n>> ")
            shown = [line.removeprefix("instruction: ") for line in context.split("\n")
                     if line.startswith("instruction: ")]
            assert len(shown) == 3 and set(shown) <= train_inputs
            assert sample not in shown  # never the row itself


def test_needs_the_target_column(make_config, tokenizer):
    config = make_config(prompt={"template": "{instruction}"})
    with pytest.raises(LlmMagicError, match=r"no column 'output' \(the output feature 'output': the target\)"):
        prepare_data(config, tokenizer, _frame().drop(columns=["output"]))


def test_prompts_only_without_tokenizer(make_config):
    prepared = prepare_data(make_config(), None, _frame())
    assert prepared.tokenized == {"train": None, "validation": None, "test": None}
    assert set(prepared.frames["train"]["prompt"]) <= {f"question {i}" for i in range(20)}


def test_chat_template_with_retrieval(make_config, tokenizer):
    import copy

    from llm_magic.runtime.data import retriever_for_data

    chat_tok = copy.deepcopy(tokenizer)
    chat_tok.chat_template = ("{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n"
                              "{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}")
    config = make_config(prompt={"template": "{__context__}\n>> {__sample__}", "chat_template": True,
                                 "retrieval": {"type": "random", "k": 1}},
                         preprocessing={"split": {"type": "fixed"}})
    prepared = prepare_data(config, chat_tok, _frame())
    prompt = prepared.frames["test"].loc[18, "prompt"]
    assert prompt.startswith("<s>[user] instruction: question ") and prompt.endswith(
        ">> question 18\n[assistant] ")
    row = prepared.tokenized["test"][0]
    assert row["input_ids"].count(chat_tok.bos_token_id) == 1  # the template's BOS, not a second one
    # The same examples at prediction time.
    again = retriever_for_data(config, _frame())
    sample = prepared.rows["test"].loc[18]
    assert again.retrieve(sample) == prepared.retriever.retrieve(sample)
