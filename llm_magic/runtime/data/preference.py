"""The columns a preference run (``trainer.type: dpo | kto | orpo``) reads beside prompt and target.

The input feature's column(s) make the prompt and the output feature's column the chosen answer,
as in fine-tuning; ``trainer.rejected_column`` holds the rejected answer. KTO also learns from
unpaired feedback: without a rejected column, ``trainer.label_column`` says whether each row's
answer is desirable (true) or not (false), TRL's unpaired form.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_magic.errors import DataError
from llm_magic.runtime.config.schema.trainer import PREFERENCE_TRAINERS

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd

    from llm_magic.runtime.config.schema.trainer import Trainer as TrainerConfig

__all__ = ["check_preference_columns", "desirable_flags", "preference_columns"]

_TRUE = {"true", "1", "yes", "y", "desirable", "good", "chosen"}
_FALSE = {"false", "0", "no", "n", "undesirable", "bad", "rejected"}


def preference_columns(trainer: TrainerConfig, columns: Any) -> dict[str, str]:
    """``{column: what needs it}`` for ``trainer``'s preference data; empty for other trainers.

    ``columns`` are the data's column names: they decide between KTO's paired form (a rejected
    column) and its unpaired form (a label column).
    """
    kind = getattr(trainer, "type", None)
    if kind not in PREFERENCE_TRAINERS:
        return {}
    rejected = trainer.rejected_column
    if kind == "kto" and rejected not in columns:
        return {trainer.label_column: "trainer.label_column: true/false, is the row's answer desirable "
                                      f"(KTO's unpaired form; or give a {rejected!r} column of rejected answers)"}
    return {rejected: "trainer.rejected_column: the rejected answer of each row"}


def check_preference_columns(trainer: TrainerConfig, df: pd.DataFrame) -> None:
    """Raise a :class:`DataError` naming the key when a preference column is missing or empty.

    Run before any model loads, so a typo in the column name costs nothing.
    """
    for column, why in preference_columns(trainer, df.columns).items():
        key = why.split(":", 1)[0]
        if column not in df.columns:
            raise DataError(
                f"{key}: the data has no column {column!r} ({why.split(': ', 1)[1]}). Columns in the data: "
                f"{', '.join(map(str, df.columns))}. Add the column, or set {key} to the column that holds it."
            )
        values = df[column]
        if values.isna().all() or (values.astype(str).str.strip() == "").all():
            raise DataError(
                f"{key}: the column {column!r} is empty in every row; a {trainer.type} run needs "
                f"{why.split(': ', 1)[1]}. Fill it, or set {key} to another column."
            )
        if key == "trainer.label_column":
            desirable_flags(values, column)  # raises on a value that is neither true nor false


def desirable_flags(values: Any, column: str) -> list[bool]:
    """KTO's labels from a column of booleans, 0/1 or words like true/false, yes/no."""
    flags = []
    for value in values:
        if isinstance(value, bool):
            flags.append(value)
            continue
        text = str(value).strip().lower()
        if text in _TRUE:
            flags.append(True)
        elif text in _FALSE:
            flags.append(False)
        else:
            raise DataError(
                f"trainer.label_column: {value!r} in column {column!r} is not true or false. KTO's unpaired "
                "form needs true (the answer is desirable) or false (it is not) in every row."
            )
    return flags
