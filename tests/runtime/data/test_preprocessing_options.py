"""Feature and global preprocessing keys that change the training rows: lowercase, sequence_length,
oversample_minority / undersample_majority. Each test checks the rows prepare_data really produces."""
from __future__ import annotations

import copy

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import PromptRenderer, prepare_data

FINETUNE = {"type": "finetune"}
FIXED = {"split": {"type": "fixed"}}


def _ids(tokenizer, text, special=False):
    return tokenizer(text, add_special_tokens=special)["input_ids"]


def _frame():
    return pd.DataFrame({
        "instruction": ["Is The Sky BLUE?", "Do Fish FLY?", "Is Grass Green?", "Can Dogs Talk?"],
        "output": ["Yes", "No", "YES", "No"],
        "split": [0, 0, 2, 2],
    })


# ------------------------------------------------------------------------------- lowercase
def test_input_lowercase_lowers_the_whole_rendered_prompt(make_config, tokenizer):
    config = make_config(
        input_features=[{"name": "instruction", "type": "text", "preprocessing": {"lowercase": True}}],
        prompt={"template": "Question: {__sample__}\nTask: {__task__}\nANSWER:", "task": "Reply YES or NO."},
        preprocessing=FIXED)
    prepared = prepare_data(config, tokenizer, _frame())
    prompt = prepared.frames["train"]["prompt"].iloc[0]
    # Like Ludwig, which lower-cases the input column after the prompt was rendered into it.
    assert prompt == "question: is the sky blue?\ntask: reply yes or no.\nanswer:"
    row = prepared.tokenized["train"][0]
    assert row["input_ids"][:len(_ids(tokenizer, prompt, True))] == _ids(tokenizer, prompt, True)
    assert list(prepared.frames["train"]["target"]) == ["Yes", "No"]  # the target keeps its case
    # Generation renders through the same renderer, so prompts at inference are lower-cased too.
    assert PromptRenderer(config).render({"instruction": "HeLLo"}) == \
        "question: hello\ntask: reply yes or no.\nanswer:"


def test_input_lowercase_off_by_default_and_spans_stay_joined(make_config):
    config = make_config(prompt={"template": "Q: {__sample__}"})
    assert PromptRenderer(config).render({"instruction": "ABC"}) == "Q: ABC"
    lowered = make_config(
        input_features=[{"name": "instruction", "type": "text", "preprocessing": {"lowercase": True}}],
        prompt={"template": "Q: {__sample__} ({instruction})"})
    renderer = PromptRenderer(lowered)
    spans = renderer.render_spans({"instruction": "ABC"})
    assert [s.kind for s in spans] == ["template", "sample", "template", "column", "template"]
    assert "".join(s.text for s in spans) == renderer.render({"instruction": "ABC"}) == "q: abc (abc)"


def test_input_lowercase_leaves_the_chat_template_alone(make_config, tokenizer):
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = "<|User|>{{ messages[0]['content'] }}<|Assistant|>"
    config = make_config(
        input_features=[{"name": "instruction", "type": "text", "preprocessing": {"lowercase": True}}],
        prompt={"template": "Q: {__sample__}", "chat_template": True})
    assert PromptRenderer(config, tokenizer=chat).render({"instruction": "ABC"}) == \
        "<|User|>q: abc<|Assistant|>"


def test_output_lowercase_lowers_the_target_tokens(make_config, tokenizer):
    config = make_config(
        output_features=[{"name": "output", "type": "text", "preprocessing": {"lowercase": True}}],
        prompt={"template": "Q: {instruction}\nA:"}, preprocessing=FIXED)
    prepared = prepare_data(config, tokenizer, _frame())
    assert list(prepared.frames["train"]["target"]) == ["yes", "no"]
    assert list(prepared.frames["test"]["target"]) == ["yes", "no"]
    row = prepared.tokenized["train"][0]
    scored = [t for t in row["labels"] if t != -100]
    assert scored == _ids(tokenizer, "yes") + [tokenizer.eos_token_id]
    assert prepared.frames["train"]["prompt"].iloc[0] == "Q: Is The Sky BLUE?\nA:"  # input untouched


def test_category_lowercase_matches_labels_whatever_their_case(make_config, tokenizer):
    config = make_config(
        output_features=[{"name": "output", "type": "category",
                          "preprocessing": {"vocab": ["Yes", "No"], "fallback_label": "No",
                                            "lowercase": True}}],
        prompt={"template": "Q: {instruction}\nA:"}, preprocessing=FIXED)
    prepared = prepare_data(config, None, _frame())
    # Targets and labels are both lower-cased, so `YES` in the data is the label `yes`.
    assert list(prepared.frames["test"]["target"]) == ["yes", "no"]
    assert config.output_feature.preprocessing.vocab == ["yes", "no"]
    from llm_magic.runtime.generation.labels import map_to_label

    assert [map_to_label(text, config.output_feature) for text in ("YES!", "no way")] == ["yes", "no"]


# ------------------------------------------------------------------------------- sequence_length
LONG = pd.DataFrame({
    "instruction": ["The quick brown fox jumps over the lazy dog, then the cat sat on the mat."] * 3,
    "output": ["A tiny model for tests: it knows nothing, but it runs fast."] * 3,
    "split": [0, 0, 0],
})


def test_input_sequence_length_keeps_the_first_tokens_like_ludwig(make_config, tokenizer):
    config = make_config(
        input_features=[{"name": "instruction", "type": "text",
                         "preprocessing": {"sequence_length": 5, "max_sequence_length": 100}}],
        prompt={"template": "Q: {instruction}\nA:"}, preprocessing=FIXED)
    prepared = prepare_data(config, tokenizer, LONG)
    full = _ids(tokenizer, prepared.frames["train"]["prompt"].iloc[0], True)
    target = _ids(tokenizer, LONG["output"][0]) + [tokenizer.eos_token_id]
    assert len(full) > 5
    for row in prepared.tokenized["train"]:
        assert row["input_ids"] == full[:5] + target  # sequence_length wins over max_sequence_length
        assert row["labels"] == [-100] * 5 + target
    report = prepared.truncation["train"]
    assert report.rows_truncated == 3 and report.prompt_tokens_cut == 3 * (len(full) - 5)
    assert "cut from the end" in report.summary()


def test_max_sequence_length_alone_still_keeps_the_prompt_end(make_config, tokenizer):
    config = make_config(
        input_features=[{"name": "instruction", "type": "text", "preprocessing": {"max_sequence_length": 5}}],
        prompt={"template": "Q: {instruction}\nA:"}, preprocessing=FIXED)
    prepared = prepare_data(config, tokenizer, LONG)
    full = _ids(tokenizer, prepared.frames["train"]["prompt"].iloc[0], True)
    assert prepared.tokenized["train"][0]["input_ids"][:5] == full[-5:]


def test_output_sequence_length_caps_the_target(make_config, tokenizer):
    config = make_config(
        output_features=[{"name": "output", "type": "text", "preprocessing": {"sequence_length": 4}}],
        prompt={"template": "Q: {instruction}\nA:"}, preprocessing=FIXED)
    prepared = prepare_data(config, tokenizer, LONG)
    target = _ids(tokenizer, LONG["output"][0])
    for row in prepared.tokenized["train"]:
        assert [t for t in row["labels"] if t != -100] == target[:4]  # cut short: no EOS
    assert prepared.limits.max_target == 4


# ------------------------------------------------------------------------------- class balancing
def _imbalanced(n_yes=12, n_no=3, n_val=4, n_test=4):
    labels = ["yes"] * n_yes + ["no"] * n_no
    held_out = ["yes"] * (n_val + n_test - 1) + ["no"]
    return pd.DataFrame({
        "instruction": [f"question {i}" for i in range(len(labels) + len(held_out))],
        "output": labels + held_out,
        "split": [0] * len(labels) + [1] * n_val + [2] * n_test,
    })


def _counts(frame):
    return frame["target"].value_counts().to_dict()


def test_oversample_minority_copies_minority_train_rows_only(make_config, tokenizer):
    df = _imbalanced()
    config = make_config(preprocessing={**FIXED, "oversample_minority": 0.5}, trainer=FINETUNE,
                         prompt={"template": "Q: {instruction}\nA:"})
    prepared = prepare_data(config, tokenizer, df)
    assert _counts(prepared.frames["train"]) == {"yes": 12, "no": 6}  # 0.5 x 12 majority rows
    assert len(prepared.tokenized["train"]) == 18
    no_rows = set(df.index[(df["split"] == 0) & (df["output"] == "no")])
    assert no_rows <= set(prepared.rows["train"].index)  # every original minority row is kept
    # Validation and test are never balanced.
    assert _counts(prepared.frames["validation"]) == {"yes": 4}
    assert _counts(prepared.frames["test"]) == {"yes": 3, "no": 1}
    assert "Balanced train split (preprocessing.oversample_minority 0.5): 'yes' 12 (unchanged), " \
           "'no' 3 -> 6 rows." in prepared.summary()


def test_undersample_majority_drops_majority_train_rows(make_config, tokenizer):
    config = make_config(preprocessing={**FIXED, "undersample_majority": 0.5}, trainer=FINETUNE)
    prepared = prepare_data(config, tokenizer, _imbalanced())
    assert _counts(prepared.frames["train"]) == {"yes": 6, "no": 3}  # 3 minority rows / 0.5
    assert prepared.rows["train"].index.is_unique
    assert _counts(prepared.frames["test"]) == {"yes": 3, "no": 1}
    again = prepare_data(config, tokenizer, _imbalanced())  # seeded: the same rows every time
    assert list(again.rows["train"].index) == list(prepared.rows["train"].index)


def test_balancing_counts_processed_targets_and_skips_met_ratios(make_config, tokenizer):
    df = _imbalanced(n_yes=4, n_no=3)
    df.loc[0, "output"] = "YES"  # the same class once lower-cased
    config = make_config(
        output_features=[{"name": "output", "type": "text", "preprocessing": {"lowercase": True}}],
        preprocessing={**FIXED, "oversample_minority": 0.5}, trainer=FINETUNE)
    prepared = prepare_data(config, tokenizer, df)
    assert _counts(prepared.frames["train"]) == {"yes": 4, "no": 3}  # 3/4 already meets 0.5
    assert prepared.balance.after == prepared.balance.before


def test_balancing_needs_two_target_values(make_config, tokenizer):
    df = _imbalanced()
    df.loc[0, "output"] = "maybe"
    config = make_config(preprocessing={**FIXED, "undersample_majority": 0.5}, trainer=FINETUNE)
    with pytest.raises(LlmMagicError) as info:
        prepare_data(config, tokenizer, df)
    message = str(info.value)
    assert "preprocessing.undersample_majority" in message and "'output'" in message
    assert "3 distinct value(s)" in message


# ------------------------------------------------------------------------------- preview
def test_preview_shows_rows_as_training_reads_them(make_config, tokenizer):
    from llm_magic.runtime.data import PromptPreview, SequenceLimits

    config = make_config(
        input_features=[{"name": "instruction", "type": "text",
                         "preprocessing": {"lowercase": True, "sequence_length": 3}}],
        output_features=[{"name": "output", "type": "text", "preprocessing": {"lowercase": True}}],
        prompt={"template": "Q: {instruction}\nA:"})
    preview = PromptPreview(PromptRenderer(config), _frame(), tokenizer=tokenizer,
                            limits=SequenceLimits.from_config(config), output_feature=config.output_feature)
    assert preview.prompt == "q: is the sky blue?\na:" and preview.target == "yes"
    assert any("cut from its end" in w for w in preview.warnings)  # sequence_length keeps the start
