"""Data sources: turn what the user passes as ``--data`` into a clean pandas DataFrame.

:func:`load_data` accepts a DataFrame, a Hugging Face ``datasets.Dataset`` or a path to a CSV, TSV,
JSON, JSONL or Parquet file, and sanitises column names the way Ludwig sanitises feature names
(``name``/``column``: ``( ) { } . : " ' [ ]`` become ``_``), so a template refers to a column ``a.b`` as ``{a_b}``.

:func:`clean_data` applies the configured missing-value strategies (see ``docs/data-and-prompts.md``)
and reports what it changed; :func:`require_columns` gives the one error message for a missing column.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Union

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.config.schema.base import block_value

if TYPE_CHECKING:  # pragma: no cover - types only
    import datasets
    import pandas as pd

#: A folder or file path as the API takes it.
PathLike = Union[str, "os.PathLike[str]"]
#: What ``--data`` / ``data=`` may be: a pandas DataFrame, a ``datasets.Dataset``, or a file path
#: (names only: pandas and datasets are not imported for it).
DataSource = Union["pd.DataFrame", "datasets.Dataset", str, "os.PathLike[str]"]

__all__ = [
    "CleaningReport",
    "DataSource",
    "PathLike",
    "SUPPORTED_SUFFIXES",
    "clean_data",
    "feature_setting",
    "load_data",
    "require_columns",
    "sanitize_name",
]

#: File suffixes :func:`load_data` reads, and the pandas reader for each.
SUPPORTED_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}

# The characters Ludwig replaces with "_" in feature names and dataset columns.
_UNSAFE_CHARS = "(){}.:\"'[]"
_SANITIZE_TABLE = str.maketrans({ch: "_" for ch in _UNSAFE_CHARS})


def sanitize_name(name: Any) -> str:
    """A column or feature name with each of ``( ) { } . : " ' [ ]`` replaced by ``_`` (as Ludwig does)."""
    return str(name).translate(_SANITIZE_TABLE)


def load_data(source: DataSource) -> pd.DataFrame:
    """Load ``source`` into a pandas DataFrame with sanitised column names.

    The result has a fresh ``0..n-1`` index. ``source`` is a pandas DataFrame (copied, never
    modified), a ``datasets.Dataset``, or a path (str or Path) to a ``.csv``, ``.tsv``, ``.json``, ``.jsonl`` or ``.parquet`` file. Empty data, an
    unsupported type or suffix, a missing file, and two columns that sanitise to the same name are
    :class:`LlmMagicError` s that say how to fix them.
    """
    # lazy: pulls pandas; %load_ext stays light
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        df = source.copy()
    elif isinstance(source, (str, os.PathLike)):
        df = _read_file(Path(os.path.expanduser(str(source))))
    elif _is_hf_dataset_dict(source):
        splits = ", ".join(repr(name) for name in source)
        raise DataError(
            f"--data is a datasets.DatasetDict with splits {splits}; pass one split, e.g. "
            f"ds[{next(iter(source))!r}], and choose the train/validation/test split with "
            "preprocessing.split in the config."
        )
    elif _is_hf_dataset(source):
        df = source.to_pandas()
    else:
        raise DataError(
            f"--data must be a pandas DataFrame, a datasets.Dataset or a path to a CSV, TSV, JSON, "
            f"JSONL or Parquet file; got a {type(source).__name__}."
        )
    if len(df.columns) == 0 or len(df) == 0:
        raise DataError(
            f"The data is empty ({len(df)} rows, columns: {_column_list(df.columns)}). "
            "Pass a dataset with at least one row."
        )
    # A fresh 0..n-1 index: row numbers in previews and retrieval ids must be unique positions.
    return _sanitize_columns(df).reset_index(drop=True)


def _is_hf_dataset(obj: Any) -> bool:
    # Checked by name so that a DataFrame-only user never pays for importing `datasets`.
    return type(obj).__name__ == "Dataset" and hasattr(obj, "to_pandas")


def _is_hf_dataset_dict(obj: Any) -> bool:
    return type(obj).__name__ in ("DatasetDict", "IterableDatasetDict")


def _read_file(path: Path) -> pd.DataFrame:
    # lazy: pulls pandas; %load_ext stays light
    import pandas as pd

    if path.is_dir():
        raise DataError(_directory_message(path))
    if not path.exists():  # before the suffix: "unsupported type '(none)'" hid a typo
        raise DataError(f"Data file {str(path)!r} does not exist.{_close_names(path)}")
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        hint = (f" Read it with pandas (e.g. pd.read_excel({str(path)!r})) and pass the DataFrame."
                if path.suffix.lower() in (".xlsx", ".xls") else "")
        raise DataError(
            f"Cannot read {path.name!r}: unsupported file type {path.suffix or '(none)'!r}. "
            f"Supported: {', '.join(SUPPORTED_SUFFIXES)}.{hint}"
        )
    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "tsv":
            return pd.read_csv(path, sep="\t")
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        if kind == "parquet":
            return pd.read_parquet(path)
        # A .json file is either a list of records or, as often in practice, JSON lines.
        try:
            return pd.read_json(path)
        except ValueError:
            return pd.read_json(path, lines=True)
    except UnicodeDecodeError as exc:  # a ValueError too: caught first for its own message
        raise DataError(_encoding_message(path, kind, exc)) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read {str(path)!r} as {kind.upper()}: {exc}") from None


def _close_names(path: Path) -> str:
    """`` Did you mean ...?`` for files in the same folder whose names are close to ``path``'s."""
    import difflib

    try:
        names = [p.name for p in path.parent.iterdir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(str(path.parent / n)) for n in close)}?" if close else ""


def _directory_message(path: Path) -> str:
    """Why a folder is not data, and what to pass instead (a file in it, or a saved dataset)."""
    shown = str(path)
    if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
        return (f"--data {shown!r} is a directory: a dataset saved with datasets' save_to_disk. Load it "
                f"first and pass the variable: ds = datasets.load_from_disk({shown!r}), then --data ds.")
    try:
        files = sorted(p.name for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
    except OSError:
        files = []
    inside = (f" It holds {', '.join(files[:5])}{', ...' if len(files) > 5 else ''}: pass one of them, "
              f"e.g. --data {str(path / files[0])!r}." if files else
              f" It holds no {', '.join(SUPPORTED_SUFFIXES)} file.")
    return (f"--data {shown!r} is a directory, not a data file.{inside} To use several files, read them "
            "with pandas, combine them (pd.concat([...])) and pass the DataFrame.")


def _encoding_message(path: Path, kind: str, exc: UnicodeDecodeError) -> str:
    """The file, the byte that is not UTF-8, and how to read it with its real encoding."""
    with path.open("rb") as handle:
        head = handle.read(4)
    # A byte-order mark tells UTF-16 apart; otherwise latin-1 / cp1252 is by far the likeliest.
    guess = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "latin-1"
    reader = {"csv": "read_csv", "tsv": "read_csv", "parquet": "read_parquet"}.get(kind, "read_json")
    extra = ", sep='\\t'" if kind == "tsv" else ", lines=True" if kind == "jsonl" else ""
    byte = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
    return (f"Cannot read {str(path)!r}: it is not UTF-8 text (byte 0x{byte} at position {exc.start} is "
            f"not valid UTF-8; the file is probably {guess} encoded). Read it with its encoding and pass "
            f"the DataFrame: df = pd.{reader}({str(path)!r}, encoding={guess!r}{extra}), then --data df. "
            "Or save the file as UTF-8.")


def _sanitize_columns(df: pd.DataFrame) -> pd.DataFrame:
    duplicated = [str(c) for c in df.columns[df.columns.duplicated()]]
    if duplicated:
        name = duplicated[0]
        raise DataError(
            f"The data has {int((df.columns == name).sum())} columns named {name!r}; column names "
            f"must be unique. Rename or drop the extra ones, e.g. "
            f"df = df.loc[:, ~df.columns.duplicated()] to keep the first {name!r}."
        )
    renamed = {col: sanitize_name(col) for col in df.columns}
    seen: dict[str, Any] = {}
    for original, new in renamed.items():
        if new in seen:
            raise DataError(
                f"Columns {seen[new]!r} and {original!r} both become {new!r} once the characters "
                f"{_UNSAFE_CHARS} are replaced by '_' (as in feature names). Rename one of them."
            )
        seen[new] = original
    return df.rename(columns=renamed)


def _column_list(columns: Iterable[Any]) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names) if names else "(none)"


def require_columns(df: pd.DataFrame, needed: dict[str, str]) -> None:
    """Raise one clear error for every column in ``needed`` (name -> why) that ``df`` lacks.

    The message names each missing column and what needs it, and lists the columns that exist.
    """
    missing = [f"{name!r} ({why})" for name, why in needed.items() if name not in df.columns]
    if missing:
        raise DataError(
            f"The data has no column {', no column '.join(missing)}. Columns in the data: "
            f"{_column_list(df.columns)}. Rename the column, or fix the config to use one of these "
            "(names are sanitised: each of ( ) { } . : \" ' [ ] becomes _)."
        )


def feature_setting(feature: Any, key: str, default: Any) -> Any:
    """A feature's ``preprocessing.<key>``, or ``default`` when unset (works for models and dicts)."""
    value = block_value(block_value(feature, "preprocessing"), key, default)
    return default if value is None else value


@dataclass
class CleaningReport:
    """What :func:`clean_data` changed: rows dropped and values filled, per column."""

    rows_before: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        """Total rows dropped for missing values."""
        return sum(self.dropped.values())

    def messages(self) -> list[str]:
        """One human-readable line per change (empty when nothing changed)."""
        lines = [
            f"dropped {n} row{'s' if n != 1 else ''} with no value in {col!r}"
            for col, n in self.dropped.items() if n
        ]
        lines += [
            f"filled {n} missing value{'s' if n != 1 else ''} in {col!r}"
            for col, n in self.filled.items() if n
        ]
        return lines


def clean_data(df: pd.DataFrame, columns: dict[str, Any]) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply missing-value strategies and return ``(cleaned copy, report)``.

    ``columns`` maps a column name to the feature whose ``preprocessing.missing_value_strategy``
    (``fill_with_const`` with ``fill_value``, ``fill_with_mode``, ``bfill``, ``ffill``, ``drop_row``)
    applies to it. Empty strings count as present: only NaN/None are missing. Columns are cleaned
    in the order given; the caller puts the target first so that a row with no target is dropped
    before anything is filled for it.
    """
    report = CleaningReport(rows_before=len(df))
    df = df.copy()
    for col, feature in columns.items():
        if col not in df.columns:
            continue
        missing = df[col].isna()
        count = int(missing.sum())
        if not count:
            continue
        strategy = feature_setting(feature, "missing_value_strategy", "fill_with_const")
        if strategy == "drop_row":
            df = df[~missing]
            report.dropped[col] = count
            continue
        if strategy == "fill_with_const":
            value = feature_setting(feature, "fill_value", "<UNK>")
            df[col] = df[col].astype(object).where(~missing, value)
        elif strategy == "fill_with_mode":
            mode = df[col].mode(dropna=True)
            df[col] = df[col].astype(object).where(~missing, mode.iloc[0] if len(mode) else "")
        elif strategy in ("bfill", "ffill"):
            filled = df[col].bfill() if strategy == "bfill" else df[col].ffill()
            # A run of missing values at the edge has no neighbour to copy: fill it with "".
            df[col] = filled.astype(object).where(filled.notna(), "")
        else:
            raise LlmMagicError(
                f"missing_value_strategy {strategy!r} for column {col!r} is not supported; use "
                "fill_with_const, fill_with_mode, bfill, ffill or drop_row."
            )
        report.filled[col] = count
    if len(df) == 0:
        raise DataError(
            "No rows left after dropping rows with missing values ("
            + "; ".join(report.messages())
            + "). Fill the missing values, or set the feature's missing_value_strategy."
        )
    return df, report
