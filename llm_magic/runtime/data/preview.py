"""The state behind ``%llm_preview``: one data row rendered through the current prompt config.

:class:`PromptPreview` knows the rows, which one is selected, the rendered prompt as highlighted
spans, the retrieved context, the target, token counts against the limits and warnings (e.g. "this
row will be truncated"). It draws nothing: ``llm_magic.widgets.prompt_preview`` renders it as an
ipywidget or as plain text. :func:`build_preview` builds one from a session.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.data.prepare import (
    clean_for_config,
    model_context_length,
    retriever_for_data,
    target_texts,
)
from llm_magic.runtime.data.prompts import PromptRenderer, Span, feature_column
from llm_magic.runtime.data.sources import load_data
from llm_magic.runtime.data.splits import SPLIT_NAMES, sample_data, split_data
from llm_magic.runtime.data.tokenize import (
    SequenceLimits,
    base_model_context_length,
    load_tokenizer,
    plan_truncation,
)

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.config.schema.features import OutputFeature
    from llm_magic.runtime.data.sources import DataSource
    from llm_magic.runtime.session import Session

__all__ = ["PromptPreview", "build_preview"]


class PromptPreview:
    """A selectable view of prompts rendered from data rows.

    ``rows`` is the DataFrame previewed; :meth:`select` picks a row by position and recomputes
    ``spans`` (the prompt as :class:`~llm_magic.runtime.data.prompts.Span` s), ``prompt``,
    ``context`` (retrieved examples), ``target``, ``token_counts`` (``{"prompt", "target",
    "total"}``, target counting its EOS; None without a tokenizer) and ``warnings``.
    ``notes`` hold remarks about the whole data (missing values filled, no tokenizer).
    ``output_feature`` (the config's) makes the target read as training reads it (``lowercase``).
    """

    def __init__(self, renderer: PromptRenderer, rows: pd.DataFrame, *,
                 tokenizer: PreTrainedTokenizerBase | None = None,
                 limits: SequenceLimits | None = None, split: str | None = None,
                 notes: list[str] | None = None, row: int = 0,
                 output_feature: OutputFeature | None = None) -> None:
        if len(rows) == 0:
            raise DataError(f"Nothing to preview: the {split or 'data'} split has no rows.")
        self.renderer = renderer
        self.rows = rows
        self.tokenizer = tokenizer
        self.limits = limits or SequenceLimits()
        self.split = split
        self.notes = list(notes or [])
        self.target_column = renderer.output_column
        self.output_feature = output_feature
        self.current_row = 0
        self.spans: list[Span] = []
        self.context: list[dict[str, str]] = []
        self.target: str | None = None
        self.token_counts: dict[str, int] | None = None
        self.warnings: list[str] = []
        self.select(row)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def prompt(self) -> str:
        """The rendered prompt of the selected row."""
        return "".join(span.text for span in self.spans)

    def select(self, row: int) -> "PromptPreview":
        """Select the row at position ``row`` (negative counts from the end) and render it."""
        n = len(self.rows)
        if not -n <= row < n:
            raise LlmMagicError(f"--row {row} is out of range: the {self.split or 'data'} has {n} "
                                f"rows (0 to {n - 1}).")
        position = row % n
        data_row = self.rows.iloc[position]
        if self.renderer.retriever is not None:
            self.renderer.retriever.prefetch([data_row])
        spans = self.renderer.render_spans(data_row)
        self.context = self.renderer.context_rows(data_row)
        target = data_row.get(self.target_column) if hasattr(data_row, "get") else None
        self.current_row, self.spans = position, spans
        missing = target is None or target != target  # NaN != NaN
        self.target = None if missing else target_texts([target], self.output_feature)[0]
        self.token_counts, self.warnings = self._count_tokens()
        return self

    def _count_tokens(self) -> tuple[dict[str, int] | None, list[str]]:
        tok = self.tokenizer
        if tok is None:
            return None, []
        prompt_ids = tok(self.prompt, add_special_tokens=not self.renderer.chat_template)["input_ids"]
        target_len = 0
        if self.target is not None:
            target_len = len(tok(self.target, add_special_tokens=False)["input_ids"]) + 1  # + EOS
        counts = {"prompt": len(prompt_ids), "target": target_len, "total": len(prompt_ids) + target_len}
        keep_p, keep_t = plan_truncation(counts["prompt"], target_len, self.limits)
        warnings = []
        if keep_p < counts["prompt"]:
            warnings.append(
                f"Row {self.current_row} will be truncated: the prompt has {counts['prompt']} tokens, "
                f"{counts['prompt'] - keep_p} will be cut from its "
                f"{'end' if self.limits.keep_prompt_start else 'start'} (limits: input "
                f"{self.limits.max_input}, total {self.limits.max_total})."
            )
        if keep_t < target_len:
            warnings.append(
                f"Row {self.current_row} will be truncated: the target has {target_len} tokens "
                f"(with EOS), {target_len - keep_t} will be cut from its end (limits: target "
                f"{self.limits.max_target}, total {self.limits.max_total})."
            )
        return counts, warnings


def _session_tokenizer(session: Session, config: LLMConfig
                       ) -> tuple[PreTrainedTokenizerBase | None, PreTrainedModel | None, list[str]]:
    """(tokenizer, model or None, notes): the loaded model's tokenizer, else the base model's alone."""
    models = getattr(session, "_models", None)
    bundle = getattr(models, "loaded", None) if models is not None else None
    if bundle is not None:  # the loaded model (ModelManager.loaded), not a new load
        return bundle.tokenizer, bundle.model, []
    try:
        return load_tokenizer(config), None, []
    except LlmMagicError as exc:
        if config.prompt.chat_template:
            raise
        return None, None, [f"No token counts: {exc}"]


def build_preview(session: Session, data: DataSource | None = None, row: int = 0,
                  split: str | None = None) -> PromptPreview:
    """A :class:`PromptPreview` of ``data`` (default: the session's bound data) under its current config.

    ``split`` (``train``, ``validation`` or ``test``) previews that split; None previews all rows.
    With retrieval, the context comes from the train split, as in training.
    """
    config = session.require_config()
    data = session.data if data is None else data
    if data is None:
        raise DataError(
            "No data to preview. Pass --data NAME (a DataFrame or datasets.Dataset variable, or a "
            "CSV/TSV/JSON/JSONL/Parquet path), or bind data first with %llm_train --data."
        )
    if split is not None and split not in SPLIT_NAMES:
        raise LlmMagicError(f"--split {split!r}: use one of {', '.join(SPLIT_NAMES)}.")
    tokenizer, model, notes = _session_tokenizer(session, config)
    renderer = PromptRenderer(config, tokenizer=tokenizer)
    df, cleaning = clean_for_config(load_data(data), config, renderer, need_target=False)
    notes += [f"Missing values: {m}." for m in cleaning.messages()]
    rows = df if split is None else split_data(sample_data(df, config), config)[split]
    renderer.retriever = retriever_for_data(config, data, cache_dir=session.settings.cache_dir)
    if feature_column(config.output_feature) not in df.columns:
        notes.append(f"The data has no target column {feature_column(config.output_feature)!r}: "
                     "prompts only (fine for prediction, not for training).")
    context = model_context_length(tokenizer, model) if model is not None else None
    limits = SequenceLimits.from_config(config, context or base_model_context_length(config)
                                        or model_context_length(tokenizer))
    return PromptPreview(renderer, rows, tokenizer=tokenizer, limits=limits, split=split,
                         notes=notes, row=row, output_feature=config.output_feature)
