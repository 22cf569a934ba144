"""Class balancing of the train split: ``preprocessing.oversample_minority`` / ``undersample_majority``.

Ludwig (``balance_data`` in ``ludwig/data/preprocessing.py``) balances the **training split only**,
after splitting, on the processed output column: it finds the most and the least frequent value
(majority and minority class) and either

- oversamples the minority class, with replacement, to ``oversample_minority`` x the majority's
  row count, or
- undersamples the majority class, without replacement, to ``minority rows / undersample_majority``.

The ratio is the minority/majority balance to reach (0.5: one minority row per two majority rows).
Ludwig's config check allows this only for a single *binary* output feature. An LLM config has no
binary outputs, so the LLM equivalent we support is a fine-tuned text output whose train-split
targets take exactly two distinct values (e.g. ``yes``/``no`` answers); anything else is a clear
error here or in ``load_config``. Differences from Ludwig, deliberate and documented in
``docs/data-and-prompts.md``: oversampling keeps every original minority row and draws only the
extra copies (Ludwig resamples the whole minority class, so some originals can vanish), and a
ratio the data already meets changes nothing (Ludwig would shrink the minority or grow the majority).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from llm_magic.errors import DataError
from llm_magic.runtime.data.splits import DEFAULT_SEED

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd

    from llm_magic.runtime.config import LLMConfig

__all__ = ["BalanceReport", "balance_settings", "balance_train_split"]


@dataclass
class BalanceReport:
    """What balancing did: the setting used and each class's train rows before and after."""

    key: str
    ratio: float
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the user, e.g. ``Balanced train split (oversample_minority 0.5): 'yes' 4 -> 10 rows...``."""
        changes = ", ".join(
            f"{label!r} {self.before[label]}" + (f" -> {self.after[label]}" if self.after[label] != self.before[label]
                                                   else " (unchanged)")
            for label in self.before
        )
        return f"Balanced train split (preprocessing.{self.key} {self.ratio:g}): {changes} rows."


def balance_settings(config: LLMConfig) -> tuple[str, float] | None:
    """``(key, ratio)`` of the configured balancing, or None when neither key is set."""
    for key in ("oversample_minority", "undersample_majority"):
        ratio = getattr(config.preprocessing, key)
        if ratio:
            return key, float(ratio)
    return None


def balance_train_split(train: pd.DataFrame, targets: Sequence[str], config: LLMConfig, target_column: str,
                        seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, BalanceReport | None]:
    """Balance ``train`` (a DataFrame) by its processed ``targets`` (one string per row, in order).

    Returns the balanced rows (original order; oversampled copies follow their original) and a
    :class:`BalanceReport`, or ``train`` unchanged and None when no balancing is configured or the
    split is empty. Raises :class:`LlmMagicError` unless the targets hold exactly two classes.
    """
    # lazy: pulls numpy; %load_ext stays light
    import numpy as np

    setting = balance_settings(config)
    if setting is None or len(train) == 0:
        return train, None
    key, ratio = setting
    labels = np.asarray([str(t) for t in targets], dtype=object)
    values, counts = np.unique(labels, return_counts=True)
    if len(values) != 2:
        shown = ", ".join(repr(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise DataError(
            f"preprocessing.{key} balances two classes (Ludwig allows it for binary outputs only), but "
            f"the target column {target_column!r} has {len(values)} distinct value(s) in the train "
            f"split ({shown}). Use it for yes/no-style targets, or remove preprocessing.{key}."
        )
    # Ties go to the first label in sorted order, so the result does not depend on row order.
    majority, minority = (values[0], values[1]) if counts[0] >= counts[1] else (values[1], values[0])
    major_rows = np.flatnonzero(labels == majority)
    minor_rows = np.flatnonzero(labels == minority)
    rng = np.random.RandomState(seed)
    keep = np.arange(len(labels))
    if key == "oversample_minority":
        goal = round(len(major_rows) * ratio)
        if goal > len(minor_rows):
            keep = np.concatenate([keep, rng.choice(minor_rows, goal - len(minor_rows), replace=True)])
    else:
        # At least one majority row survives, whatever the ratio.
        goal = max(1, int(len(minor_rows) / ratio))
        if goal < len(major_rows):
            keep = np.concatenate([minor_rows, rng.choice(major_rows, goal, replace=False)])
    keep = np.sort(keep, kind="stable")
    balanced = train.iloc[keep]
    before = {str(majority): len(major_rows), str(minority): len(minor_rows)}
    kept = labels[keep]
    after = {label: int((kept == label).sum()) for label in before}
    return balanced, BalanceReport(key, ratio, before, after)
