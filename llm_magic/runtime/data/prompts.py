"""Prompt templates (``prompt:``): render a data row into the text the model reads.

A template is Python ``str.format`` text. ``{column}`` inserts a column's raw value (a format spec is
allowed when it contains ``f``: the value is cast to float first, e.g. ``{price:.2f}``),
``{__sample__}`` the input feature's raw text, ``{__task__}`` ``prompt.task`` and ``{__context__}``
the retrieved examples; ``{{`` and ``}}`` are literal braces. With only ``prompt.task`` the default
templates below apply; with neither, the input column passes through unchanged. The input feature's
``preprocessing.lowercase`` lower-cases the whole rendered prompt (see :class:`PromptRenderer`).

:class:`PromptRenderer` renders a row to a string (:meth:`~PromptRenderer.render`) or to spans that
say which part came from where (:meth:`~PromptRenderer.render_spans`), for the preview's highlighting.
Where we differ from Ludwig, and why, is in ``docs/data-and-prompts.md``.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.data.sources import feature_setting, require_columns, sanitize_name

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd
    from transformers import PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.data.retrieval import Retriever

__all__ = [
    "DEFAULT_FEW_SHOT_TEMPLATE",
    "DEFAULT_ZERO_SHOT_TEMPLATE",
    "PromptRenderer",
    "SPAN_KINDS",
    "Span",
    "feature_column",
]

# Our own wording of Ludwig's default templates (used when ``prompt.template`` is null): same
# placeholders, same `ASSISTANT:` cue.
DEFAULT_ZERO_SHOT_TEMPLATE = (
    "SAMPLE INPUT: {__sample__}\n"
    "\n"
    "USER: Complete the following task: {__task__}\n"
    "\n"
    "ASSISTANT:\n"
)
DEFAULT_FEW_SHOT_TEMPLATE = (
    "Below are labelled examples that resemble the sample input.\n"
    "\n"
    "CONTEXT:\n"
    "{__context__}\n"
    "\n"
    "Each example shows an input and its expected output. Follow them: answer the task for the "
    "sample input in the same way, relying on the examples rather than on prior knowledge.\n"
    "\n"
    "SAMPLE INPUT: {__sample__}\n"
    "\n"
    "USER: Complete the following task: {__task__}\n"
    "\n"
    "ASSISTANT:\n"
)

#: Span kinds: fixed template text, a substituted column, the input sample, the task, the
#: retrieved context, and the text a chat template wraps around the prompt.
SPAN_KINDS = ("template", "column", "sample", "task", "context", "chat")
_SPECIAL = {"__sample__": "sample", "__task__": "task", "__context__": "context"}


class Span(NamedTuple):
    """One piece of a rendered prompt: its ``text``, its ``kind`` (see :data:`SPAN_KINDS`) and its
    ``source`` (the column or placeholder it came from; None for fixed text)."""

    text: str
    kind: str
    source: str | None


@dataclass(frozen=True)
class _Part:
    literal: str
    field: str | None
    spec: str


def feature_column(feature: Any) -> str:
    """The (sanitised) dataset column a feature reads: its ``column``, else its ``name``."""
    column = getattr(feature, "column", None) or getattr(feature, "name", None)
    return sanitize_name(column)


def _parse(template: str) -> list[_Part]:
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise LlmMagicError(
            f"prompt.template is not a valid template ({exc}). Placeholders look like {{column}}; "
            "write literal braces doubled, as {{ and }}."
        ) from None
    parts = []
    for literal, field, spec, conversion in pieces:
        if field is not None:
            _check_field(field, spec or "", conversion)
        parts.append(_Part(literal, field, spec or ""))
    return parts


def _check_field(field: str, spec: str, conversion: str | None) -> None:
    shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
    if field == "" or field.isdigit():
        raise LlmMagicError(
            f"prompt.template: placeholder {shown} has no name. Name a column, as in {{text}}, or "
            "double the braces ({{ }}) for literal braces."
        )
    if sanitize_name(field) != field:
        raise LlmMagicError(
            f"prompt.template: placeholder {shown} is not a column name. Column names are "
            f"sanitised (( ) {{ }} . : \" ' [ ] become _): use {{{sanitize_name(field)}}}."
        )
    if conversion:
        raise LlmMagicError(
            f"prompt.template: placeholder {shown} uses a conversion (!{conversion}), which is not "
            f"supported; write {{{field}}}."
        )
    if spec and ("f" not in spec or "{" in spec):
        raise LlmMagicError(
            f"prompt.template: placeholder {shown} has format spec {spec!r}; only float specs "
            f"(containing 'f', e.g. {{{field}:.2f}}) are allowed, as in Ludwig."
        )
    if field.startswith("__") and field.endswith("__") and field not in _SPECIAL:
        raise LlmMagicError(
            f"prompt.template: unknown special placeholder {shown}; the special placeholders are "
            f"{', '.join('{' + s + '}' for s in _SPECIAL)}."
        )


class PromptRenderer:
    """Renders data rows into prompts, following ``config.prompt``.

    ``retriever`` (see :mod:`llm_magic.runtime.data.retrieval`) supplies ``{__context__}`` when
    ``prompt.retrieval`` is set. ``tokenizer`` is needed only for ``prompt.chat_template: true``,
    which wraps each prompt in the tokenizer's chat template as one user message. The template is
    parsed here (placeholder names, format specs); :meth:`check_columns` checks a DataFrame against it.

    The input feature's ``preprocessing.lowercase: true`` lower-cases the rendered prompt: template
    text, task, context and values alike. That is what Ludwig does for LLMs: it renders the prompt
    into the input column first and then lower-cases that column's text before tokenizing. The chat
    template's own text is left alone (its special tokens are case-sensitive). Rendering is shared
    by training, evaluation and generation, so a model trained on lower-cased prompts is prompted
    with lower-cased prompts too.
    """

    def __init__(self, config: LLMConfig, retriever: Retriever | None = None,
                 tokenizer: PreTrainedTokenizerBase | None = None) -> None:
        prompt = config.prompt
        self.task: str | None = prompt.task
        self.retrieval_type: str | None = prompt.retrieval.type
        self.chat_template: bool = bool(prompt.chat_template)
        self.lowercase: bool = bool(feature_setting(config.input_feature, "lowercase", False))
        self.input_name: str = config.input_feature.name
        self.output_name: str = config.output_feature.name
        self.input_column = feature_column(config.input_feature)
        self.output_column = feature_column(config.output_feature)
        self.retriever = retriever
        self.tokenizer = tokenizer
        template = prompt.template
        if template is None and self.task is not None:
            template = DEFAULT_FEW_SHOT_TEMPLATE if self.retrieval_type else DEFAULT_ZERO_SHOT_TEMPLATE
        #: The effective template (a default one when only ``task`` is set); None = pass-through.
        self.template: str | None = template
        self._parts = _parse(template) if template is not None else []
        self._check_template(user_template=prompt.template)
        # Found on first render: a renderer used only for its placeholders needs no tokenizer.
        self._chat_affixes: tuple[str, str] | None = None

    # ----------------------------------------------------------------------------- checks
    @property
    def placeholders(self) -> list[str]:
        """The placeholder names the template uses, in order of first use."""
        return list(dict.fromkeys(p.field for p in self._parts if p.field is not None))

    @property
    def column_placeholders(self) -> list[str]:
        """The placeholders that name dataset columns (not ``__sample__`` and friends)."""
        return [name for name in self.placeholders if name not in _SPECIAL]

    def _check_template(self, user_template: str | None) -> None:
        # load_config already enforces the prompt rules (task needs {__task__}, retrieval {__context__}, no
        # output column...); this adds the one rule it cannot see: some placeholder must vary per row.
        if user_template is None:
            return
        if not any(n == "__sample__" or n not in _SPECIAL for n in self.placeholders):
            raise LlmMagicError(
                "prompt.template uses no column: add a placeholder such as {__sample__} (the input "
                f"feature's text) or {{{self.input_column}}}, so each row gives a different prompt."
            )

    def required_columns(self) -> dict[str, str]:
        """The columns a row needs to render (name -> why), for :func:`require_columns`."""
        needed = {name: f"used by {{{name}}} in prompt.template" for name in self.column_placeholders}
        if self.template is None:
            needed[self.input_column] = "the input feature, passed through as the prompt"
        elif "__sample__" in self.placeholders:
            needed[self.input_column] = "the input feature, used by {__sample__}"
        return needed

    def check_columns(self, df: pd.DataFrame) -> None:
        """Raise a clear error naming each placeholder whose column ``df`` lacks."""
        require_columns(df, self.required_columns())

    # ----------------------------------------------------------------------------- rendering
    def render(self, row: Any) -> str:
        """The prompt for ``row`` (a pandas Series or a dict of column -> value)."""
        return "".join(span.text for span in self.render_spans(row))

    def render_spans(self, row: Any) -> list[Span]:
        """The prompt for ``row`` as :class:`Span` s; their texts joined give :meth:`render`."""
        if self.template is None:
            spans = [Span(self._value(row, self.input_column, "{__sample__}"), "sample", self.input_column)]
        else:
            spans = []
            for part in self._parts:
                if part.literal:
                    spans.append(Span(part.literal, "template", None))
                if part.field is not None:
                    spans.append(self._field_span(row, part))
        if self.lowercase:
            spans = [span._replace(text=span.text.lower()) for span in spans]
        if self.chat_template:
            if self._chat_affixes is None:
                self._chat_affixes = self._chat_wrapping()
            prefix, suffix = self._chat_affixes
            spans = [Span(prefix, "chat", None), *spans, Span(suffix, "chat", None)]
        return _merge(spans)

    def context_rows(self, row: Any) -> list[dict[str, str]]:
        """The examples retrieved for ``row`` (``{"input": ..., "output": ...}``); [] without retrieval."""
        if not self.retrieval_type:
            return []
        if self.retriever is None:
            raise LlmMagicError(
                "prompt.retrieval is set but no retriever was built; use prepare_data() or pass "
                "PromptRenderer(config, retriever=build_retriever(config, train_df))."
            )
        return self.retriever.retrieve(row)

    def format_context(self, examples: list[dict[str, str]]) -> str:
        """``{__context__}``: one ``<input name>: ...`` / ``<output name>: ...`` block per example."""
        return "\n\n".join(
            f"{self.input_name}: {ex['input']}\n{self.output_name}: {ex['output']}" for ex in examples
        )

    def _field_span(self, row: Any, part: _Part) -> Span:
        name = part.field
        if name == "__task__":
            return Span(self.task or "", "task", "__task__")
        if name == "__context__":
            return Span(self.format_context(self.context_rows(row)), "context", "__context__")
        if name == "__sample__":
            # Raw text, unlike Ludwig's JSON-escaping (see docs/data-and-prompts.md).
            return Span(self._value(row, self.input_column, "{__sample__}"), "sample", self.input_column)
        value = _get(row, name, "{" + name + "}")
        if part.spec:
            try:
                return Span(format(float(value), part.spec), "column", name)
            except (TypeError, ValueError):
                raise DataError(
                    f"prompt.template: {{{name}:{part.spec}}} needs a number, but column {name!r} "
                    f"holds {value!r}. Remove the format spec or clean the column."
                ) from None
        return Span(str(value), "column", name)

    def _value(self, row: Any, column: str, placeholder: str) -> str:
        return str(_get(row, column, placeholder))

    # ----------------------------------------------------------------------------- chat template
    def _chat_wrapping(self) -> tuple[str, str]:
        """The text a chat template puts before and after a user message (found with a marker)."""
        tok = self.tokenizer
        if tok is None:
            raise LlmMagicError(
                "prompt.chat_template: true needs the model's tokenizer to wrap prompts; load the "
                "model first, or pass the tokenizer to the renderer."
            )
        if not getattr(tok, "chat_template", None):
            name = getattr(tok, "name_or_path", "this model")
            raise LlmMagicError(
                f"prompt.chat_template: true, but the tokenizer of {name!r} has no chat template. "
                "Use a chat/instruct model, or set prompt.chat_template: false."
            )
        marker = "\x00LLM_MAGIC_PROMPT\x00"
        wrapped = tok.apply_chat_template(
            [{"role": "user", "content": marker}], add_generation_prompt=True, tokenize=False
        )
        if wrapped.count(marker) != 1:
            raise LlmMagicError(
                "prompt.chat_template: the tokenizer's chat template does not insert the message "
                "text verbatim, so llm_magic cannot wrap prompts with it; set prompt.chat_template: false."
            )
        prefix, suffix = wrapped.split(marker)
        return prefix, suffix


def _merge(spans: list[Span]) -> list[Span]:
    """Drop empty spans and join neighbours of the same kind and source (``{{`` splits literals)."""
    merged: list[Span] = []
    for span in spans:
        if not span.text:
            continue
        if merged and merged[-1].kind == span.kind == "template":
            merged[-1] = Span(merged[-1].text + span.text, "template", None)
        else:
            merged.append(span)
    return merged


def _get(row: Any, column: str, placeholder: str) -> Any:
    try:
        return row[column]
    except (KeyError, IndexError):
        keys = list(row.keys()) if hasattr(row, "keys") else []
        raise DataError(
            f"prompt.template: {placeholder} needs column {column!r}, which the row does not have. "
            f"Columns: {', '.join(map(str, keys)) or '(none)'}."
        ) from None
