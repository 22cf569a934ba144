"""Issue 14, item 8: data that used to give tracebacks or silent surprises gets one clear message.

Duplicated column names, files that are not UTF-8, directories passed as files, and one
missing-value rule shared by training, evaluation, preview and prediction.
"""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import PromptRenderer, load_data, prepare_data
from llm_magic.runtime.data.prepare import clean_for_config


def test_duplicated_column_names_are_named_with_a_fix():
    frame = pd.DataFrame([["a", "b", "c"]], columns=["instruction", "instruction", "output"])
    with pytest.raises(LlmMagicError) as info:
        load_data(frame)
    message = str(info.value)
    assert "2 columns named 'instruction'" in message
    assert "df.loc[:, ~df.columns.duplicated()]" in message


@pytest.mark.parametrize("suffix, reader", [(".csv", "read_csv"), (".tsv", "read_csv"), (".jsonl", "read_json")])
def test_latin1_file_names_the_file_the_encoding_and_a_fix(tmp_path, suffix, reader):
    path = tmp_path / f"data{suffix}"
    text = {".csv": "instruction,output\ncafé,1\n", ".tsv": "instruction\toutput\ncafé\t1\n",
            ".jsonl": '{"instruction": "café", "output": "1"}\n'}[suffix]
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(LlmMagicError) as info:
        load_data(path)
    message = str(info.value)
    assert str(path) in message and "not UTF-8" in message and "byte 0xe9" in message
    assert f"pd.{reader}({str(path)!r}, encoding='latin-1'" in message
    # The fix the message gives works.
    fixed = pd.read_csv(path, encoding="latin-1", sep="\t" if suffix == ".tsv" else ",") \
        if reader == "read_csv" else pd.read_json(path, encoding="latin-1", lines=True)
    assert load_data(fixed)["instruction"][0] == "café"


def test_utf16_file_is_recognised_by_its_byte_order_mark(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("instruction,output\ncafé,1\n".encode("utf-16"))
    with pytest.raises(LlmMagicError, match="encoding='utf-16'"):
        load_data(path)


def test_a_directory_is_a_directory_and_the_message_points_at_its_files(tmp_path):
    folder = tmp_path / "mydata"
    folder.mkdir()
    with pytest.raises(LlmMagicError) as info:
        load_data(folder)
    assert "is a directory, not a data file" in str(info.value)
    assert "unsupported file type" not in str(info.value)
    pd.DataFrame({"instruction": ["x"], "output": ["y"]}).to_csv(folder / "train.csv", index=False)
    with pytest.raises(LlmMagicError, match=r"holds train\.csv: pass one of them, e\.g\. --data '.*train\.csv'"):
        load_data(str(folder))


def test_a_saved_datasets_folder_is_told_to_use_load_from_disk(tmp_path):
    (tmp_path / "dataset_info.json").write_text("{}")
    with pytest.raises(LlmMagicError, match=r"datasets\.load_from_disk"):
        load_data(tmp_path)


# --------------------------------------------------------------------------- missing values
def _frame():
    return pd.DataFrame({"instruction": ["one", None, "three", "four"], "output": ["1", "2", "3", "4"]})


@pytest.mark.parametrize("prep, expected", [
    ({}, "Q: <UNK> A:"),
    ({"fill_value": "(none)"}, "Q: (none) A:"),
    ({"missing_value_strategy": "ffill"}, "Q: one A:"),
    ({"missing_value_strategy": "bfill"}, "Q: three A:"),
])
def test_one_missing_value_rule_for_training_and_prediction(make_config, prep, expected):
    from llm_magic.runtime.data.prepare import clean_prompt_columns

    config = make_config(input_features=[{"name": "instruction", "type": "text", "preprocessing": prep}],
                         prompt={"template": "Q: {instruction} A:"})
    renderer = PromptRenderer(config)
    # Training and evaluation (prepare_data), preview (clean_for_config) and prediction
    # (clean_prompt_columns) render row 1 the same way.
    prepared = prepare_data(config, None, _frame())
    trained = pd.concat(prepared.frames.values())["prompt"].sort_index()
    previewed, _ = clean_for_config(load_data(_frame()), config, renderer, need_target=False)
    predicted, report = clean_prompt_columns(load_data(_frame()), config, renderer)
    assert trained[1] == renderer.render(previewed.loc[1]) == renderer.render(predicted.loc[1]) == expected
    assert report.messages() == ["filled 1 missing value in 'instruction'"]


def test_prediction_drops_rows_only_for_drop_row_and_never_for_a_missing_target(make_config):
    from llm_magic.runtime.data.prepare import clean_prompt_columns

    config = make_config(prompt={"template": "Q: {instruction} A:"})
    data = load_data(_frame().assign(output=[None, None, "3", None]))
    kept, report = clean_prompt_columns(data, config, PromptRenderer(config))
    assert list(kept.index) == [0, 1, 2, 3] and report.rows_dropped == 0  # the target is not needed
    config = make_config(input_features=[{"name": "instruction", "type": "text",
                                          "preprocessing": {"missing_value_strategy": "drop_row"}}],
                         prompt={"template": "Q: {instruction} A:"})
    kept, report = clean_prompt_columns(data, config, PromptRenderer(config))
    assert list(kept.index) == [0, 2, 3] and report.dropped == {"instruction": 1}


def test_a_missing_file_says_so_and_suggests_close_names(tmp_path):
    (tmp_path / "train.csv").write_text("instruction,output\nx,y\n")
    with pytest.raises(LlmMagicError, match=r"does not exist\. Did you mean '.*train\.csv'\?"):
        load_data(tmp_path / "trian.csv")
    with pytest.raises(LlmMagicError, match="does not exist") as info:
        load_data(tmp_path / "mydata")  # no suffix: not "unsupported file type '(none)'"
    assert "unsupported" not in str(info.value)


def test_an_excel_file_is_pointed_at_pandas(tmp_path):
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(LlmMagicError, match=r"unsupported file type '\.xlsx'.*pd\.read_excel"):
        load_data(tmp_path / "data.xlsx")
