"""The whole data pipeline in one call, for training and evaluation: :func:`prepare_data`.

load (or take a training run's data as :func:`load_run_data` loaded it) -> check columns -> clean
missing values -> sample -> split -> build the retriever on the train split -> balance the train
split's classes (if configured) -> render prompts -> tokenise each split (but those a preference
run's trainer tokenizes itself). The training and generation engineers call this;
:class:`PreparedData` holds every intermediate result they may want.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_magic.runtime.config.schema.trainer import PREFERENCE_TRAINERS
from llm_magic.runtime.data.balance import BalanceReport, balance_train_split
from llm_magic.runtime.data.prompts import PromptRenderer, feature_column
from llm_magic.runtime.data.retrieval import Retriever, build_retriever
from llm_magic.runtime.data.preference import check_preference_columns, preference_columns
from llm_magic.runtime.data.sources import CleaningReport, clean_data, feature_setting, load_data, require_columns
from llm_magic.runtime.data.splits import DEFAULT_SEED, SPLIT_NAMES, sample_data, split_data
from llm_magic.runtime.data.tokenize import (
    SequenceLimits,
    TokenizedData,
    TruncationReport,
    tokenize_for_training,
)
from llm_magic.runtime.progress import silence_library_bars, task

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Iterable

    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.config.schema.features import OutputFeature
    from llm_magic.runtime.data.sources import DataSource

__all__ = ["PreparedData", "RunData", "clean_for_config", "clean_prompt_columns", "load_run_data",
           "model_context_length", "prepare_data", "retriever_for_data", "target_texts"]

# Tokenizers saved without a limit report ~1e30 as model_max_length; treat that as "unknown".
_NO_LIMIT = 1_000_000


@dataclass
class PreparedData:
    """Everything :func:`prepare_data` produced, per split (``train``, ``validation``, ``test``).

    - ``rows[split]``: the cleaned data rows of the split (original columns, original index; the
      train split after class balancing, so an oversampled row appears more than once);
    - ``frames[split]``: a DataFrame with columns ``prompt`` and ``target``, same index;
    - ``tokenized[split]``: :class:`TokenizedData` rows for the Trainer (None without a tokenizer,
      and for the splits a :class:`RunData` leaves as text);
    - ``truncation[split]``: that split's :class:`TruncationReport`;
    - ``cleaning``: what missing-value handling changed; ``balance``: what class balancing did
      (None without it); ``renderer`` and ``retriever`` are reusable for prediction (same prompts,
      same retrieval index).
    """

    rows: dict[str, Any]
    frames: dict[str, Any]
    tokenized: dict[str, TokenizedData | None]
    cleaning: CleaningReport
    renderer: PromptRenderer
    retriever: Retriever | None = None
    limits: SequenceLimits = field(default_factory=SequenceLimits)
    balance: BalanceReport | None = None

    @property
    def truncation(self) -> dict[str, TruncationReport | None]:
        """Per split, the truncation report (None for splits that were not tokenised)."""
        return {name: (t.truncation if t is not None else None) for name, t in self.tokenized.items()}

    def summary(self) -> str:
        """A few lines for the user: split sizes, cleaning and truncation."""
        sizes = ", ".join(f"{name} {len(self.rows[name])}" for name in SPLIT_NAMES)
        lines = [f"Rows: {sizes}."]
        lines += [f"Missing values: {m}." for m in self.cleaning.messages()]
        if self.balance is not None:
            lines.append(self.balance.summary())
        for name, report in self.truncation.items():
            if report is not None and report.rows_truncated:
                lines.append(f"{name}: {report.summary()}")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class RunData:
    """A training run's data as :func:`load_run_data` made it: loaded and checked once, before any model loads.

    :func:`prepare_data` takes it in place of the user's data and neither reads nor checks it again.
    """

    #: The loaded data (:func:`load_data`'s copy: sanitised column names, a fresh index).
    frame: pd.DataFrame
    #: The splits :func:`prepare_data` renders but does not tokenise (their ``tokenized`` entry is None):
    #: those the run's trainer reads only as text (see :func:`load_run_data`).
    text_only: tuple[str, ...] = ()


def load_run_data(config: LLMConfig, data: DataSource) -> RunData:
    """``data`` loaded and its preference columns checked for ``config``, once for a training run.

    A training run calls it before any model loads, so that a missing file or a missing rejected
    column costs nothing, and passes the result to :func:`prepare_data`. Raises :class:`DataError`
    as :func:`load_data` and :func:`check_preference_columns` do.

    A preference run's train and validation splits stay text: TRL tokenizes their prompts and
    chosen and rejected answers itself, and evaluates the validation split with them. The test
    split is tokenized as for fine-tuning: the final test report's teacher-forced metrics read it.
    """
    df = load_data(data)
    check_preference_columns(config.trainer, df)
    preference = getattr(config.trainer, "type", None) in PREFERENCE_TRAINERS
    return RunData(df, text_only=("train", "validation") if preference else ())


def clean_for_config(df: pd.DataFrame, config: LLMConfig, renderer: PromptRenderer,
                     need_target: bool = True, *, checked: bool = False) -> tuple[pd.DataFrame, CleaningReport]:
    """Check ``df`` has the columns the prompt (and, if ``need_target``, the target) needs, then clean it.

    The target column uses the output feature's missing-value strategy (default ``drop_row``); every
    column the prompt reads uses the input feature's (default ``fill_with_const`` with ``fill_value``).
    ``checked``: ``df`` is a :class:`RunData`'s frame, whose preference columns are checked already.
    """
    needed = renderer.required_columns()
    target = feature_column(config.output_feature)
    if need_target:
        needed[target] = f"the output feature {config.output_feature.name!r}: the target"
        trainer = config.trainer
        if not checked:
            check_preference_columns(trainer, df)
        # Like the target, a row without its rejected answer (or KTO label) is dropped.
        preference = preference_columns(trainer, df.columns)
    else:
        preference = {}
    require_columns(df, needed)
    columns: dict[str, Any] = {}
    if target in df.columns:
        columns[target] = config.output_feature
    for col in preference:
        columns[col] = config.output_feature
    for col in needed:
        columns.setdefault(col, config.input_feature)
    return clean_data(df, columns)


def clean_prompt_columns(df: pd.DataFrame, config: LLMConfig, renderer: PromptRenderer) -> tuple[pd.DataFrame,
                         CleaningReport]:
    """For prediction: check and clean only the columns the prompt reads, as training cleans them.

    The same input-feature rule as :func:`clean_for_config` (so a missing value renders as the
    ``fill_value`` training saw, not as ``nan``); the target column, if any, is left as it is,
    since prediction does not need it. Rows keep their index, so dropped rows can be told apart.
    """
    needed = renderer.required_columns()
    require_columns(df, needed)
    return clean_data(df, {col: config.input_feature for col in needed})


def target_texts(values: Iterable[Any], output_feature: OutputFeature) -> list[str]:
    """The target texts of ``values`` (a column): ``str`` of each, lower-cased when the output
    feature's ``preprocessing.lowercase`` is true (Ludwig lower-cases the target column likewise)."""
    lowercase = bool(feature_setting(output_feature, "lowercase", False))
    return [str(v).lower() if lowercase else str(v) for v in values]


def retriever_for_data(config: LLMConfig, data: DataSource, seed: int = DEFAULT_SEED,
                       cache_dir: str | None = None) -> Retriever | None:
    """The retriever over ``data``'s train split, exactly as :func:`prepare_data` builds it.

    For prediction after (or without) training: same cleaning, sampling and split, so the examples
    match those seen in training. None when ``config`` has no retrieval. ``cache_dir``: where a
    semantic index is cached (``Settings.cache_dir``; None: ``$LLM_MAGIC_CACHE``).
    """
    if not config.prompt.retrieval.type:
        return None
    df, _ = clean_for_config(load_data(data), config, PromptRenderer(config), need_target=False)
    return build_retriever(config, split_data(sample_data(df, config, seed), config, seed)["train"], seed,
                           cache_dir)


def model_context_length(tokenizer: PreTrainedTokenizerBase | None = None,
                         model: PreTrainedModel | None = None) -> int | None:
    """The model's context length (from its config), else the tokenizer's, else None."""
    cfg = getattr(model, "config", None)
    for key in ("max_sequence_length", "max_position_embeddings", "n_positions"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 0 < value < _NO_LIMIT:
        return value
    return None


def prepare_data(config: LLMConfig, tokenizer: PreTrainedTokenizerBase | None, data: DataSource | RunData, *,
                 seed: int = DEFAULT_SEED,
                 context_length: int | None = None, cache_dir: str | None = None) -> PreparedData:
    """Load, clean, split, render and tokenise ``data`` for ``config``.

    ``data`` is anything :func:`~llm_magic.runtime.data.load_data` takes, or a training run's
    :class:`RunData` (used as it is: loaded and checked already). ``tokenizer`` may be None
    (prompts only, e.g. for a preview). ``context_length`` (the model's; default: from the
    tokenizer) caps ``preprocessing.global_max_sequence_length``. ``cache_dir`` as for
    :func:`retriever_for_data`. Raises :class:`LlmMagicError` for
    missing columns, empty data, bad templates and split settings.
    """
    loaded = isinstance(data, RunData)
    df = data.frame if loaded else load_data(data)
    text_only = data.text_only if loaded else ()
    renderer = PromptRenderer(config, tokenizer=tokenizer)
    df, cleaning = clean_for_config(df, config, renderer, checked=loaded)
    splits = split_data(sample_data(df, config, seed), config, seed)

    silence_library_bars()
    # The index holds the train rows before balancing, as in Ludwig (it indexes at preprocessing,
    # balancing comes after the split): oversampled copies would only crowd the few-shot examples.
    retriever = build_retriever(config, splits["train"], seed, cache_dir) if renderer.retrieval_type else None
    renderer.retriever = retriever
    target_column = feature_column(config.output_feature)
    splits["train"], balance = balance_train_split(
        splits["train"], target_texts(splits["train"][target_column], config.output_feature),
        config, target_column, seed)
    if context_length is None:
        context_length = model_context_length(tokenizer)
    limits = SequenceLimits.from_config(config, context_length)
    frames, tokenized = {}, {}
    step = task("Rendering and tokenizing prompts" if tokenizer is not None else "Rendering prompts",
                total=sum(len(splits[name]) for name in SPLIT_NAMES))
    with step as progress:
        for name in SPLIT_NAMES:
            frames[name], tokenized[name] = _prepare_split(
                splits[name], renderer, retriever, None if name in text_only else tokenizer, config,
                target_column, limits)
            progress.advance(len(splits[name]))
    return PreparedData(rows=splits, frames=frames, tokenized=tokenized, cleaning=cleaning,
                        renderer=renderer, retriever=retriever, limits=limits, balance=balance)


def _prepare_split(part: pd.DataFrame, renderer: PromptRenderer, retriever: Retriever | None,
                   tokenizer: PreTrainedTokenizerBase | None, config: LLMConfig, target_column: str,
                   limits: SequenceLimits) -> tuple[pd.DataFrame, TokenizedData | None]:
    """One split's ``(prompt/target frame, tokenized rows or None)``."""
    # lazy: pulls pandas; %load_ext stays light
    import pandas as pd

    rows = [row for _, row in part.iterrows()]
    if retriever is not None:
        retriever.prefetch(rows)
    frame = pd.DataFrame(
        {"prompt": [renderer.render(r) for r in rows],
         "target": target_texts(part[target_column], config.output_feature)},
        index=part.index,
    )
    tokenized = None if tokenizer is None else tokenize_for_training(
        tokenizer, list(frame["prompt"]), list(frame["target"]), limits.max_input,
        limits.max_target, limits.max_total, add_special_tokens=not renderer.chat_template,
        keep_prompt_start=limits.keep_prompt_start,
    )
    return frame, tokenized
