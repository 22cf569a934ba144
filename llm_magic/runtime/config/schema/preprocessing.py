"""Global ``preprocessing``: dataset split, sampling and the merged sequence-length cap."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, field_validator

from llm_magic.runtime.config.schema.base import F, ConfigModel, type_block

_DEFAULT_PROBS = [0.7, 0.1, 0.2]


def _default_type(value: Any, default: str) -> Any:
    return {"type": default, **value} if isinstance(value, dict) and "type" not in value else value


def _check_probabilities(value: list[float]) -> list[float]:
    if len(value) != 3:
        raise ValueError("expected three numbers [train, validation, test], e.g. [0.7, 0.1, 0.2]")
    if any(p < 0 for p in value):
        raise ValueError("split probabilities must not be negative")
    if abs(sum(value) - 1.0) > 1e-6:
        raise ValueError(f"split probabilities must sum to 1 (they sum to {sum(value):g})")
    return value


class RandomSplit(ConfigModel):
    """Shuffle rows and split them by the given proportions."""

    type: Literal["random"] = F("random", "Split type.")
    probabilities: list[float] = F(default_factory=lambda: list(_DEFAULT_PROBS),
                                   help="Proportions [train, validation, test]; must sum to 1.")
    _probs = field_validator("probabilities")(classmethod(lambda cls, v: _check_probabilities(v)))


class FixedSplit(ConfigModel):
    """Use a column of the data: 0 = train, 1 = validation, 2 = test (needed for retrieval)."""

    type: Literal["fixed"] = F("fixed", "Split type.")
    column: str = F("split", "Column holding 0/1/2 (or train/validation/test).")


class StratifySplit(ConfigModel):
    """Random split that keeps the class balance of a column."""

    type: Literal["stratify"] = F("stratify", "Split type.")
    column: str | None = F(None, "Column to stratify on (required).")
    probabilities: list[float] = F(default_factory=lambda: list(_DEFAULT_PROBS),
                                   help="Proportions [train, validation, test]; must sum to 1.")
    _probs = field_validator("probabilities")(classmethod(lambda cls, v: _check_probabilities(v)))


class DatetimeSplit(ConfigModel):
    """Split by time: oldest rows train, newest test."""

    type: Literal["datetime"] = F("datetime", "Split type.")
    column: str | None = F(None, "Datetime column (required).")
    datetime_format: str | None = F(None, "strftime format of the column; null = inferred.")
    fill_value: str = F("", "Date used for rows whose datetime is missing; empty = such rows are an error.",
                        diverges="Ludwig accepts it but never uses it.")
    probabilities: list[float] = F(default_factory=lambda: list(_DEFAULT_PROBS),
                                   help="Proportions [train, validation, test]; must sum to 1.")
    _probs = field_validator("probabilities")(classmethod(lambda cls, v: _check_probabilities(v)))


class HashSplit(ConfigModel):
    """Deterministic split by hashing an id column (stable when rows are added)."""

    type: Literal["hash"] = F("hash", "Split type.")
    column: str | None = F(None, "Id column to hash (required).")
    probabilities: list[float] = F(default_factory=lambda: list(_DEFAULT_PROBS),
                                   help="Proportions [train, validation, test]; must sum to 1.")
    _probs = field_validator("probabilities")(classmethod(lambda cls, v: _check_probabilities(v)))


SplitConfig = Annotated[
    Union[RandomSplit, FixedSplit, StratifySplit, DatetimeSplit, HashSplit],
    Field(discriminator="type"), BeforeValidator(lambda v: _default_type(type_block(v), "random"))]


class PreprocessingConfig(ConfigModel):
    """Dataset-level preprocessing."""

    sample_ratio: float = F(1.0, "Fraction of rows to use (0-1].", ge=0, le=1)
    sample_size: int | None = F(None, "Exact number of rows to use; not together with sample_ratio < 1.", ge=0)
    oversample_minority: float | None = F(
        None, "Fine-tuning, two-valued targets: copy minority-class train rows until minority/majority "
              "reaches this ratio (e.g. 0.5).", gt=0,
        diverges="Ludwig allows it for binary outputs only (none in LLM configs); we allow a fine-tuned "
                 "text output whose train targets take two values, and keep every original row.")
    undersample_majority: float | None = F(
        None, "Fine-tuning, two-valued targets: drop majority-class train rows until minority/majority "
              "reaches this ratio (e.g. 0.5).", gt=0,
        diverges="Ludwig allows it for binary outputs only (none in LLM configs); we allow a fine-tuned "
                 "text output whose train targets take two values.")
    global_max_sequence_length: int | None = F(
        None, "Cap on prompt + target + EOS tokens in fine-tuning; null = model context length.", gt=0)
    split: SplitConfig = F(default_factory=RandomSplit, help="How rows are split into train/validation/test.")
    cache_encoder_embeddings: bool = F(False, "Unused for LLMs.")
