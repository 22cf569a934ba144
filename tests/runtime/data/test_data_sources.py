"""load_data from every source, column sanitising, and missing-value handling."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import clean_data, load_data, require_columns, sanitize_name

ROWS = [
    {"instruction": "say hi", "output": "hi", "score": 1.5},
    {"instruction": "say bye", "output": "bye", "score": 2.0},
]


@pytest.fixture
def frame():
    return pd.DataFrame(ROWS)


def _assert_rows(df):
    assert list(df.columns) == ["instruction", "output", "score"]
    assert df.to_dict("records") == ROWS


def test_dataframe_is_copied_not_modified(frame):
    df = load_data(frame)
    _assert_rows(df)
    df.loc[0, "instruction"] = "changed"
    assert frame.loc[0, "instruction"] == "say hi"


@pytest.mark.parametrize("suffix", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_each_file_format(tmp_path, frame, suffix):
    path = tmp_path / f"data.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == "json":
        frame.to_json(path, orient="records")
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    _assert_rows(load_data(str(path)))
    _assert_rows(load_data(path))  # a Path works too


def test_json_file_holding_json_lines(tmp_path, frame):
    path = tmp_path / "data.json"
    frame.to_json(path, orient="records", lines=True)
    _assert_rows(load_data(path))


def test_hf_dataset(frame):
    import datasets

    _assert_rows(load_data(datasets.Dataset.from_pandas(frame)))


def test_hf_dataset_dict_asks_for_one_split(frame):
    import datasets

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame)})
    with pytest.raises(LlmMagicError, match=r"ds\['train'\]"):
        load_data(dd)


def test_column_names_sanitised_like_feature_names():
    df = load_data(pd.DataFrame({"a.b": [1], "q(x)": [2], "k:'v'": [3], "ok": [4]}))
    assert list(df.columns) == ["a_b", "q_x_", "k__v_", "ok"]
    assert sanitize_name('x{"y"}[0]') == "x__y___0_"


def test_sanitised_name_clash_is_an_error():
    with pytest.raises(LlmMagicError, match=r"'a\.b' and 'a:b' both become 'a_b'"):
        load_data(pd.DataFrame({"a.b": [1], "a:b": [2]}))


def test_index_is_reset_to_positions(frame):
    df = load_data(frame.set_index(pd.Index([7, 7])))
    assert list(df.index) == [0, 1]


@pytest.mark.parametrize("bad, message", [
    (pd.DataFrame({"instruction": []}), r"empty \(0 rows, columns: instruction\)"),
    ([{"instruction": "x"}], "got a list"),
    ("no_such_file.csv", "does not exist"),
    ("data.xlsx", r"unsupported file type '\.xlsx'.*\.csv, \.tsv, \.json, \.jsonl, \.parquet"),
])
def test_bad_sources(tmp_path, monkeypatch, bad, message):
    monkeypatch.chdir(tmp_path)
    if isinstance(bad, str) and bad.endswith(".xlsx"):
        (tmp_path / bad).write_text("x")
    with pytest.raises(LlmMagicError, match=message):
        load_data(bad)


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("not parquet")
    with pytest.raises(LlmMagicError, match="Cannot read .* as PARQUET"):
        load_data(path)


def test_require_columns_lists_missing_and_existing(frame):
    with pytest.raises(LlmMagicError) as info:
        require_columns(frame, {"question": "used by {question}", "output": "the target"})
    message = str(info.value)
    assert "'question' (used by {question})" in message
    assert "Columns in the data: instruction, output, score" in message
    assert "'output'" not in message.split("Columns")[0]


def _feature(**prep):
    return SimpleNamespace(preprocessing=SimpleNamespace(**prep))


def test_missing_target_rows_dropped_and_inputs_filled():
    df = pd.DataFrame({"instruction": ["a", None, "c", None], "output": ["x", "y", None, "z"]})
    cleaned, report = clean_data(df, {
        "output": _feature(missing_value_strategy="drop_row"),
        "instruction": _feature(missing_value_strategy="fill_with_const", fill_value=""),
    })
    assert cleaned.to_dict("records") == [
        {"instruction": "a", "output": "x"},
        {"instruction": "", "output": "y"},
        {"instruction": "", "output": "z"},
    ]
    assert report.dropped == {"output": 1} and report.filled == {"instruction": 2}
    assert report.messages() == ["dropped 1 row with no value in 'output'",
                                 "filled 2 missing values in 'instruction'"]


@pytest.mark.parametrize("strategy, expected", [
    ("fill_with_const", ["a", "<UNK>", "b", "b"]),
    ("fill_with_mode", ["a", "b", "b", "b"]),
    ("ffill", ["a", "a", "b", "b"]),
    ("bfill", ["a", "b", "b", "b"]),
])
def test_fill_strategies(strategy, expected):
    df = pd.DataFrame({"t": ["a", None, "b", "b"]})
    cleaned, _ = clean_data(df, {"t": _feature(missing_value_strategy=strategy, fill_value="<UNK>")})
    assert list(cleaned["t"]) == expected


def test_empty_strings_are_not_missing():
    df = pd.DataFrame({"t": ["", "a"]})
    cleaned, report = clean_data(df, {"t": _feature(missing_value_strategy="drop_row")})
    assert list(cleaned["t"]) == ["", "a"] and report.rows_dropped == 0


def test_dropping_every_row_is_an_error():
    df = pd.DataFrame({"output": [None, None]})
    with pytest.raises(LlmMagicError, match="No rows left.*dropped 2 rows with no value in 'output'"):
        clean_data(df, {"output": _feature(missing_value_strategy="drop_row")})
