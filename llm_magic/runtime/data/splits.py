"""Sampling and train/validation/test splits, following ``preprocessing`` (``split``, ``sample_ratio``,
``sample_size``, ...).

:func:`sample_data` applies ``sample_ratio`` / ``sample_size``; :func:`split_data` applies
``preprocessing.split`` (``random``, ``fixed``, ``stratify``, ``hash``, ``datetime``). Everything is
seeded, so the same data and config always give the same split.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.data.sources import require_columns, sanitize_name

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd

    from llm_magic.runtime.config import LLMConfig

__all__ = ["DEFAULT_PROBABILITIES", "DEFAULT_SEED", "SPLIT_NAMES", "sample_data", "split_data"]

SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_PROBABILITIES = (0.7, 0.1, 0.2)
#: Seed for sampling, random splits and random retrieval (Ludwig's default random_seed is 42 too).
DEFAULT_SEED = 42

# Values of a `fixed` split column: Ludwig's 0/1/2, plus the split names for readability.
_FIXED_VALUES = {0: "train", 1: "validation", 2: "test",
                 "train": "train", "validation": "validation", "test": "test"}


def sample_data(df: pd.DataFrame, config: LLMConfig, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Down-sample ``df`` by ``preprocessing.sample_ratio`` or to ``preprocessing.sample_size`` rows."""
    prep = config.preprocessing
    ratio, size = prep.sample_ratio, prep.sample_size
    ratio = 1.0 if ratio is None else float(ratio)
    if size is not None and ratio < 1.0:
        raise LlmMagicError(
            "preprocessing: set either sample_ratio or sample_size, not both "
            f"(sample_ratio={ratio}, sample_size={size})."
        )
    if size is not None:
        if size >= len(df):
            return df
        return df.sample(n=int(size), random_state=seed).sort_index()
    if ratio < 1.0:
        n = max(1, round(len(df) * ratio))
        return df.sample(n=n, random_state=seed).sort_index()
    return df


def _probabilities(split: Any) -> tuple[float, float, float]:
    probs = getattr(split, "probabilities", None) or DEFAULT_PROBABILITIES
    probs = tuple(float(p) for p in probs)
    if len(probs) != 3 or any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
        raise LlmMagicError(
            f"preprocessing.split.probabilities must be three non-negative numbers summing to 1 "
            f"(train, validation, test); got {list(probs)}."
        )
    return probs  # type: ignore[return-value]


def _counts(n: int, probs: tuple[float, float, float]) -> tuple[int, int]:
    """How many of ``n`` rows go to train and validation (test gets the rest)."""
    n_train = round(n * probs[0])
    n_val = min(n - n_train, round(n * probs[1]))
    return n_train, n_val


def _assign_by_order(order: Any, probs: tuple[float, float, float]) -> dict[str, pd.DataFrame]:
    """Cut a sequence of index labels into train/validation/test by the probabilities."""
    n_train, n_val = _counts(len(order), probs)
    return {
        "train": list(order[:n_train]),
        "validation": list(order[n_train:n_train + n_val]),
        "test": list(order[n_train + n_val:]),
    }


def split_data(df: pd.DataFrame, config: LLMConfig, seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame]:
    """Split ``df`` into ``{"train", "validation", "test"}`` DataFrames per ``preprocessing.split``.

    - ``random``: shuffled with ``seed``, then cut by ``probabilities`` (default 0.7/0.1/0.2).
    - ``fixed``: ``column`` (default ``split``) holds 0/1/2 (or train/validation/test) per row.
    - ``stratify``: ``column``'s classes are split one by one, so each split keeps their proportions.
    - ``hash``: rows go by a stable hash of ``column`` (e.g. a user id), so a key never straddles
      two splits and adding rows never moves existing ones.
    - ``datetime``: rows sorted by ``column`` parsed as dates: oldest to train, newest to test.

    Each split keeps the original index and row order. Splits may be empty (small data).
    """
    # lazy: pulls numpy; %load_ext stays light
    import numpy as np

    split = config.preprocessing.split
    kind = split.type
    column = getattr(split, "column", None)  # a random split has no column
    column = sanitize_name(column) if column else None  # dataset columns are sanitised too

    if kind == "random":
        order = df.index[np.random.RandomState(seed).permutation(len(df))]
        parts = _assign_by_order(order, _probabilities(split))
    elif kind == "fixed":
        column = column or "split"
        require_columns(df, {column: "preprocessing.split.column of the fixed split"})
        parts = _fixed_parts(df, column)
    elif kind == "stratify":
        _require_split_column(df, kind, column)
        probs = _probabilities(split)
        parts = {name: [] for name in SPLIT_NAMES}
        rng = np.random.RandomState(seed)
        for _, group in df.groupby(column, sort=True, dropna=False):
            order = group.index[rng.permutation(len(group))]
            for name, labels in _assign_by_order(order, probs).items():
                parts[name].extend(labels)
    elif kind == "hash":
        _require_split_column(df, kind, column)
        probs = _probabilities(split)
        bounds = (probs[0], probs[0] + probs[1])
        parts = {name: [] for name in SPLIT_NAMES}
        for label, value in df[column].items():
            # sha256 rather than hash(): Python's str hash changes from process to process.
            digest = hashlib.sha256(str(value).encode("utf-8")).digest()
            u = int.from_bytes(digest[:8], "big") / 2**64
            parts["train" if u < bounds[0] else "validation" if u < bounds[1] else "test"].append(label)
    elif kind == "datetime":
        _require_split_column(df, kind, column)
        # lazy: pulls pandas; %load_ext stays light
        import pandas as pd

        values = df[column]
        fill = getattr(split, "fill_value", "") or None
        if fill is not None:  # Ludwig accepts fill_value but never uses it; we fill missing dates
            values = values.where(values.notna(), fill)
        dates = pd.to_datetime(values, errors="coerce",
                               format=getattr(split, "datetime_format", None) or None)
        if dates.isna().any():
            bad = values[dates.isna()].iloc[0]
            hint = ("" if fill is not None or pd.notna(bad) else
                    " (or set preprocessing.split.fill_value to a date for rows without one)")
            raise DataError(
                f"preprocessing.split (datetime): column {column!r} has values that are not dates, "
                f"e.g. {bad!r}. Fix or drop those rows{hint}, or use another split type."
            )
        order = dates.sort_values(kind="stable").index
        parts = _assign_by_order(order, _probabilities(split))
    else:
        raise LlmMagicError(
            f"preprocessing.split.type {kind!r} is not supported; use random, fixed, stratify, "
            "hash or datetime."
        )
    # .loc with sorted positions keeps the caller's row order inside each split.
    positions = {label: i for i, label in enumerate(df.index)}
    return {
        name: df.loc[sorted(parts[name], key=positions.__getitem__)] if parts[name] else df.iloc[0:0]
        for name in SPLIT_NAMES
    }


def _require_split_column(df: pd.DataFrame, kind: str, column: str | None) -> None:
    if not column:
        raise LlmMagicError(
            f"preprocessing.split.type {kind!r} needs preprocessing.split.column: the column to "
            f"{'stratify on' if kind == 'stratify' else 'hash' if kind == 'hash' else 'sort by date'}."
        )
    require_columns(df, {column: f"preprocessing.split.column of the {kind} split"})


def _fixed_parts(df: pd.DataFrame, column: str) -> dict[str, list]:
    parts: dict[str, list] = {name: [] for name in SPLIT_NAMES}
    for label, value in df[column].items():
        key = _fixed_key(value)
        name = _FIXED_VALUES.get(key) if key is not None else None
        if name is None:
            raise DataError(
                f"preprocessing.split (fixed): column {column!r} holds {value!r} at row {label!r}; "
                "each value must be 0 (train), 1 (validation) or 2 (test)."
            )
        parts[name].append(label)
    return parts


def _fixed_key(value: Any) -> int | str | None:
    """0/1/2 from ints, floats (pandas turns int columns with gaps into floats) or strings."""
    if isinstance(value, str):
        text = value.strip().lower()
        return int(text) if text.isdigit() else text
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None
