"""Data, prompts and few-shot retrieval: from a user's table to tokenised training rows.

- ``sources``: :func:`load_data` (DataFrame, ``datasets.Dataset``, CSV/TSV/JSON/JSONL/Parquet),
  column-name sanitising, missing-value handling (:func:`clean_data`).
- ``splits``: :func:`sample_data`, :func:`split_data` (random/fixed/stratify/hash/datetime).
- ``balance``: :func:`balance_train_split` (``oversample_minority`` / ``undersample_majority``).
- ``prompts``: :class:`PromptRenderer` (templates, default task templates, chat templates, spans).
- ``retrieval``: :func:`build_retriever` (random and semantic few-shot examples, cached indices).
- ``tokenize``: :func:`tokenize_for_training`, :func:`make_data_collator`, :func:`load_tokenizer`.
- ``prepare``: :func:`prepare_data`, the whole pipeline for training (:class:`PreparedData`).
- ``preview``: :class:`PromptPreview`, the state behind ``%llm_preview``.

Importing this package imports neither torch, transformers nor pandas; they load on first use.
See ``docs/data-and-prompts.md`` for the behaviour and where it differs from Ludwig.
"""
from __future__ import annotations

from llm_magic.runtime.data.balance import BalanceReport, balance_train_split
from llm_magic.runtime.data.prepare import (
    PreparedData,
    clean_for_config,
    clean_prompt_columns,
    model_context_length,
    prepare_data,
    retriever_for_data,
    target_texts,
)
from llm_magic.runtime.data.preview import PromptPreview, build_preview
from llm_magic.runtime.data.prompts import (
    DEFAULT_FEW_SHOT_TEMPLATE,
    DEFAULT_ZERO_SHOT_TEMPLATE,
    PromptRenderer,
    Span,
    feature_column,
)
from llm_magic.runtime.data.retrieval import (
    DEFAULT_EMBEDDING_MODEL,
    RandomRetriever,
    Retriever,
    SemanticRetriever,
    build_retriever,
    index_cache_dir,
    resolve_embedding_model,
)
from llm_magic.runtime.data.sources import CleaningReport, clean_data, load_data, require_columns, sanitize_name
from llm_magic.runtime.data.splits import SPLIT_NAMES, sample_data, split_data
from llm_magic.runtime.data.tokenize import (
    SequenceLimits,
    TokenizedData,
    TruncationReport,
    ensure_pad_token,
    load_tokenizer,
    make_data_collator,
    plan_truncation,
    tokenize_for_training,
)

__all__ = [
    "BalanceReport",
    "CleaningReport",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_FEW_SHOT_TEMPLATE",
    "DEFAULT_ZERO_SHOT_TEMPLATE",
    "PreparedData",
    "PromptPreview",
    "PromptRenderer",
    "RandomRetriever",
    "Retriever",
    "SPLIT_NAMES",
    "SemanticRetriever",
    "SequenceLimits",
    "Span",
    "TokenizedData",
    "TruncationReport",
    "balance_train_split",
    "build_preview",
    "build_retriever",
    "clean_data",
    "clean_for_config",
    "clean_prompt_columns",
    "ensure_pad_token",
    "feature_column",
    "index_cache_dir",
    "load_data",
    "load_tokenizer",
    "make_data_collator",
    "model_context_length",
    "plan_truncation",
    "prepare_data",
    "require_columns",
    "resolve_embedding_model",
    "retriever_for_data",
    "sample_data",
    "sanitize_name",
    "split_data",
    "target_texts",
    "tokenize_for_training",
]
