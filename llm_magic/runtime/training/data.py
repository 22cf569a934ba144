"""The data a run needs: tokenized rows per split, plus each split's prompts and targets as text.

Training and teacher-forced evaluation use the tokenized rows (prompt masked out of the labels,
from ``runtime.data``); generation metrics and the widget's sample answers use the text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from llm_magic.runtime.data.preference import desirable_flags, preference_columns
from llm_magic.runtime.data.prepare import target_texts
from llm_magic.runtime.data.tokenize import make_data_collator, tokenize_for_training

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd
    from transformers import PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.data.prepare import PreparedData

__all__ = ["SplitData", "TrainingData", "from_prepared", "training_data_from_pairs"]

SPLITS = ("train", "validation", "test")


@dataclass
class SplitData:
    """One split: tokenized rows (``input_ids``/``attention_mask``/``labels``) and their texts.

    A preference run's train and validation splits have texts only (no ``rows``): TRL tokenizes
    them itself (``runtime.data.load_run_data``).
    """

    rows: Sequence[dict[str, Any]]
    prompts: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    #: The split's original rows (a DataFrame) when known: category evaluation reads labels from it.
    frame: pd.DataFrame | None = None
    #: Preference runs: the rejected answer of each row (``targets`` holds the chosen one) ...
    rejected: list[str] | None = None
    #: ... or, for KTO's unpaired form, whether each row's target is desirable.
    desirable: list[bool] | None = None

    def __len__(self) -> int:
        # Text-only splits (no tokenized rows) still count their rows.
        return len(self.rows) or len(self.prompts)


@dataclass
class TrainingData:
    """The three splits (validation/test may be empty) and the batch collator."""

    train: SplitData
    validation: SplitData | None
    test: SplitData | None
    collator: Any
    notes: list[str] = field(default_factory=list)
    #: Whether prompts are tokenized with the tokenizer's special tokens (False: a chat template
    #: already wrote them as text); generation must tokenize the same way.
    add_special_tokens: bool = True

    def split(self, name: str) -> SplitData | None:
        """The split called ``name`` ('train', 'validation' or 'test'), or None when empty."""
        part = getattr(self, name)
        return part if part is not None and len(part) else None


def training_data_from_pairs(tokenizer: PreTrainedTokenizerBase,
                             splits: dict[str, tuple[Sequence[str], Sequence[str]]],
                             max_length: int | None = None) -> TrainingData:
    """Tokenize ``{split: (prompts, targets)}`` with ``runtime.data``'s training tokenization."""
    parts: dict[str, SplitData | None] = {}
    for name in SPLITS:
        prompts, targets = splits.get(name, ([], []))
        prompts, targets = [str(p) for p in prompts], [str(t) for t in targets]
        tokenized = tokenize_for_training(tokenizer, prompts, targets, global_max_len=max_length)
        parts[name] = SplitData(list(tokenized.rows), prompts, targets) if prompts else None
    if parts["train"] is None:
        parts["train"] = SplitData([], [], [])
    return TrainingData(parts["train"], parts["validation"], parts["test"], make_data_collator(tokenizer))


def from_prepared(prepared: PreparedData, tokenizer: PreTrainedTokenizerBase,
                  config: LLMConfig | None = None) -> TrainingData:
    """Adapt ``runtime.data.prepare_data``'s :class:`PreparedData` to :class:`TrainingData`.

    ``config`` (the validated config the data was prepared for) adds a preference run's rejected
    answers or KTO labels to each split.
    """
    trainer = config.trainer if config is not None else None

    parts: dict[str, SplitData | None] = {}
    for name in SPLITS:
        frame = prepared.frames.get(name)
        rows = prepared.tokenized.get(name)
        if frame is None or len(frame) == 0:
            parts[name] = None
            continue
        # No tokenized rows: a split the preparation left as text (a preference run's train and validation).
        parts[name] = SplitData(rows if rows is not None else [], [str(p) for p in frame["prompt"]],
                                [str(t) for t in frame["target"]], frame)
        source = prepared.rows.get(name)
        for column in preference_columns(trainer, source.columns if source is not None else ()):
            if column == getattr(trainer, "rejected_column", None):
                parts[name].rejected = target_texts(source[column], config.output_feature)
            else:
                parts[name].desirable = desirable_flags(source[column], column)
    if parts["train"] is None:  # evaluation needs no train rows; run_job refuses an empty split
        parts["train"] = SplitData([], [], [])
    notes = prepared.summary().splitlines()[1:]
    return TrainingData(parts["train"], parts["validation"], parts["test"], make_data_collator(tokenizer),
                        notes=notes, add_special_tokens=not prepared.renderer.chat_template)
