"""Sampling and the train/validation/test split types."""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import sample_data, split_data


def _frame(n=100):
    return pd.DataFrame({
        "instruction": [f"q{i}" for i in range(n)],
        "output": [f"a{i}" for i in range(n)],
        "label": ["pos" if i % 4 else "neg" for i in range(n)],
        "user": [f"u{i % 10}" for i in range(n)],
    })


def _sizes(parts):
    return {name: len(df) for name, df in parts.items()}


def test_random_split_default_probabilities_and_seeded(make_config):
    df, config = _frame(), make_config()
    parts = split_data(df, config)
    assert _sizes(parts) == {"train": 70, "validation": 10, "test": 20}
    # Every row lands in exactly one split, and the same seed gives the same split.
    all_index = sorted(i for part in parts.values() for i in part.index)
    assert all_index == list(range(100))
    again = split_data(df, config)
    assert all(parts[k].index.equals(again[k].index) for k in parts)
    other = split_data(df, config, seed=7)
    assert not parts["train"].index.equals(other["train"].index)


def test_random_split_custom_probabilities(make_config):
    config = make_config(preprocessing={"split": {"type": "random", "probabilities": [0.5, 0.5, 0.0]}})
    assert _sizes(split_data(_frame(10), config)) == {"train": 5, "validation": 5, "test": 0}


def test_fixed_split_by_column(make_config):
    df = _frame(6)
    df["split"] = [0, 1, 2, 0, "test", 1.0]
    parts = split_data(df, make_config(preprocessing={"split": {"type": "fixed"}}))
    assert {k: list(v.index) for k, v in parts.items()} == {
        "train": [0, 3], "validation": [1, 5], "test": [2, 4]}


def test_fixed_split_errors(make_config):
    config = make_config(preprocessing={"split": {"type": "fixed", "column": "fold"}})
    with pytest.raises(LlmMagicError, match=r"no column 'fold'.*Columns in the data: instruction"):
        split_data(_frame(3), config)
    df = _frame(3)
    df["fold"] = [0, 1, 5]
    with pytest.raises(LlmMagicError, match=r"column 'fold' holds 5 at row 2; each value must be 0"):
        split_data(df, config)


def test_stratify_keeps_class_proportions(make_config):
    config = make_config(preprocessing={"split": {"type": "stratify", "column": "label"}})
    parts = split_data(_frame(100), config)
    for name, expected in {"train": 0.7, "validation": 0.1, "test": 0.2}.items():
        counts = parts[name]["label"].value_counts()
        assert counts["neg"] == round(25 * expected) and counts["pos"] == round(75 * expected)


def test_hash_split_keeps_each_key_in_one_split_and_is_stable(make_config):
    config = make_config(preprocessing={"split": {"type": "hash", "column": "user"}})
    df = _frame(100)
    parts = split_data(df, config)
    owner = {}
    for name, part in parts.items():
        for user in part["user"]:
            assert owner.setdefault(user, name) == name
    # Adding rows never moves existing keys.
    bigger = split_data(pd.concat([df, _frame(20)], ignore_index=True), config)
    for name, part in bigger.items():
        assert all(owner[u] == name for u in part["user"])


def test_datetime_split_oldest_to_train(make_config):
    df = _frame(10)
    df["when"] = pd.date_range("2024-01-01", periods=10, freq="D").strftime("%Y-%m-%d")[::-1]
    config = make_config(preprocessing={"split": {"type": "datetime", "column": "when",
                                                  "probabilities": [0.6, 0.2, 0.2]}})
    parts = split_data(df, config)
    assert sorted(parts["train"].index) == [4, 5, 6, 7, 8, 9]
    assert sorted(parts["test"].index) == [0, 1]
    df.loc[3, "when"] = "not a date"
    with pytest.raises(LlmMagicError, match="'not a date'"):
        split_data(df, config)


def test_datetime_split_fills_missing_dates_with_fill_value(make_config):
    df = _frame(10)
    df["when"] = pd.date_range("2024-01-01", periods=10, freq="D").strftime("%Y-%m-%d")
    df.loc[9, "when"] = None
    split = {"type": "datetime", "column": "when", "probabilities": [0.6, 0.2, 0.2]}
    with pytest.raises(LlmMagicError, match="fill_value"):
        split_data(df, make_config(preprocessing={"split": split}))
    parts = split_data(df, make_config(preprocessing={"split": {**split, "fill_value": "2023-12-31"}}))
    assert 9 in parts["train"].index  # the filled date is the oldest
    assert sorted(parts["test"].index) == [7, 8]


@pytest.mark.parametrize("kind", ["stratify", "hash", "datetime"])
def test_split_column_must_exist(make_config, kind):
    config = make_config(preprocessing={"split": {"type": kind, "column": "group"}})
    with pytest.raises(LlmMagicError, match=rf"no column 'group' \(preprocessing.split.column of the {kind} "
                                            r"split\).*Columns in the data: instruction, output, label"):
        split_data(_frame(5), config)


def test_sample_ratio_and_size(make_config):
    df = _frame(100)
    half = sample_data(df, make_config(preprocessing={"sample_ratio": 0.5}))
    assert len(half) == 50 and half.index.is_monotonic_increasing
    assert half.index.equals(sample_data(df, make_config(preprocessing={"sample_ratio": 0.5})).index)
    assert len(sample_data(df, make_config(preprocessing={"sample_size": 7}))) == 7
    assert len(sample_data(df, make_config(preprocessing={"sample_size": 1000}))) == 100
    assert sample_data(df, make_config()) is df
