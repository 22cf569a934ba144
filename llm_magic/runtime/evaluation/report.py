""":class:`EvalReport`: the result of an evaluation, shown as tables in a notebook and as text.

It holds the flat metric numbers (``report["exact_match"]``), for category outputs the
per-class precision/recall/F1 table and the confusion matrix, and a few example predictions.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd

__all__ = ["EvalComparison", "EvalReport"]

# How many example rows the report shows: in HTML inside a collapsed block, in text fewer, after
# the metrics, so the metrics stay on the first screen.
_SHOWN_EXAMPLES = 5
_SHOWN_EXAMPLES_TEXT = 3
# Characters shown of one example value: a few-shot prompt can run to pages, and the report
# is a summary (the full rows stay in ``report.examples``).
_MAX_CHARS = 600
# Indentation of an example's fields, and of the lines of a multi-line value, in the text form.
_FIELD_INDENT = "    "
_VALUE_INDENT = "      "


@dataclass
class EvalReport:
    """Metrics of one split: ``metrics`` (name -> number), optional class tables, examples."""

    split: str
    output_type: str  # "text" or "category"
    rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    per_class: Any = None  # DataFrame: label -> precision, recall, f1, support
    confusion: Any = None  # DataFrame: actual (rows) x predicted (columns)
    examples: Any = None  # DataFrame: prompt, target, prediction (and label for category)
    #: Lines about the metrics (e.g. why BLEU is not shown).
    notes: list[str] = field(default_factory=list)
    #: Metrics computed but not shown because they carry no information here (see ``notes``).
    hidden: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.metrics[name]

    def __contains__(self, name: str) -> bool:
        return name in self.metrics

    def to_dict(self) -> dict[str, Any]:
        """Metrics (and class tables as nested dicts), for saving next to a model."""
        out: dict[str, Any] = dict(self.metrics)
        if self.per_class is not None:
            out["per_class"] = self.per_class.to_dict(orient="index")
        if self.confusion is not None:
            out["confusion"] = self.confusion.to_dict(orient="index")
        return out

    def __repr__(self) -> str:
        lines = [f"Evaluation on the {self.split} split ({self.rows} rows, {self.output_type} output)"]
        width = max((len(k) for k in self.metrics), default=0)
        lines += [f"  {name.ljust(width)}  {_fmt(value)}" for name, value in self.metrics.items()]
        lines += [f"  ({note})" for note in self.notes]
        if self.per_class is not None:
            lines += ["", "Per class:", self.per_class.to_string(float_format=lambda v: f"{v:.3f}")]
        if self.confusion is not None:
            lines += ["", "Confusion matrix (rows: actual, columns: predicted):", self.confusion.to_string()]
        if self.examples is not None and len(self.examples):
            shown = min(_SHOWN_EXAMPLES_TEXT, len(self.examples))
            lines += ["", f"Examples ({shown} of {len(self.examples)}; all in report.examples):",
                      *_examples_text(self.examples.head(shown))]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        title = (f"<b>Evaluation on the {html.escape(self.split)} split</b> "
                 f"({self.rows} rows, {html.escape(self.output_type)} output)")
        metric_rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(_fmt(value))}</td></tr>"
            for name, value in self.metrics.items()
        )
        parts = [title, f"<table><tr><th>metric</th><th>value</th></tr>{metric_rows}</table>"]
        parts += [f"<div style='color:#666;font-size:smaller'>{html.escape(note)}</div>" for note in self.notes]
        if self.per_class is not None:
            parts += ["<b>Per class</b>", self.per_class.to_html(float_format=lambda v: f"{v:.3f}")]
        if self.confusion is not None:
            parts += ["<b>Confusion matrix</b> (rows: actual, columns: predicted)", self.confusion.to_html()]
        if self.examples is not None and len(self.examples):
            shown = min(_SHOWN_EXAMPLES, len(self.examples))
            parts.append(f"<details><summary><b>Examples</b> ({shown} of {len(self.examples)}; "
                         f"all in <code>report.examples</code>)</summary>"
                         f"{_examples_html(self.examples.head(shown))}</details>")
        return "<div class='llm-magic-eval'>" + "<br>".join(parts) + "</div>"


@dataclass
class EvalComparison:
    """``%llm_eval --compare``: the base model (adapter switched off) and the tuned one on one split."""

    base: EvalReport
    tuned: EvalReport

    @property
    def metrics(self) -> dict[str, tuple[float, float]]:
        """``name -> (base, tuned)`` for every metric both reports have."""
        return {k: (self.base.metrics[k], v) for k, v in self.tuned.metrics.items() if k in self.base.metrics}

    @property
    def examples(self) -> pd.DataFrame | None:
        """prompt, target, the base model's answer and the tuned one's, side by side."""
        if self.tuned.examples is None or self.base.examples is None:
            return None
        column = "prediction" if "prediction" in self.tuned.examples else "generated"
        out = self.tuned.examples[["prompt", "target"]].copy()
        out["base"] = list(self.base.examples[column])
        out["tuned"] = list(self.tuned.examples[column])
        return out

    def __repr__(self) -> str:
        tuned = self.tuned
        lines = [f"Base (adapter off) against tuned on the {tuned.split} split ({tuned.rows} rows)"]
        width = max((len(k) for k in self.metrics), default=0)
        lines.append(f"  {'metric'.ljust(width)}  {'base':>8}  {'tuned':>8}  {'change':>8}")
        for name, (before, after) in self.metrics.items():
            lines.append(f"  {name.ljust(width)}  {_fmt(before):>8}  {_fmt(after):>8}  {_change(before, after):>8}")
        examples = self.examples
        if examples is not None and len(examples):
            shown = min(_SHOWN_EXAMPLES_TEXT, len(examples))
            lines += ["", f"Examples ({shown} of {len(examples)}; all in report.examples):",
                      *_examples_text(examples.head(shown))]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        tuned = self.tuned
        rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{_fmt(a)}</td><td>{_fmt(b)}</td>"
                       f"<td>{_change(a, b)}</td></tr>" for name, (a, b) in self.metrics.items())
        parts = [f"<b>Base (adapter off) against tuned on the {html.escape(tuned.split)} split</b> ({tuned.rows} rows)",
                 f"<table><tr><th>metric</th><th>base</th><th>tuned</th><th>change</th></tr>{rows}</table>"]
        examples = self.examples
        if examples is not None and len(examples):
            shown = min(_SHOWN_EXAMPLES, len(examples))
            parts.append(f"<details open><summary><b>Examples</b> ({shown} of {len(examples)}; all in "
                         f"<code>report.examples</code>)</summary>{_examples_html(examples.head(shown))}</details>")
        return "<div class='llm-magic-eval'>" + "<br>".join(parts) + "</div>"


def _change(before: Any, after: Any) -> str:
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        return f"{after - before:+.4f}"
    return ""


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _clip(value: Any) -> str:
    """``value`` as text, cut after :data:`_MAX_CHARS` characters with a note of what was left out."""
    text = str(value)
    if len(text) <= _MAX_CHARS:
        return text
    return f"{text[:_MAX_CHARS]}… ({len(text) - _MAX_CHARS} more characters)"


def _examples_text(examples: Any) -> list[str]:
    """One block per example: a field per line, multi-line values as indented lines of their own.

    Not ``DataFrame.to_string``: it prints a prompt's line breaks as a literal ``\\n``.
    """
    lines: list[str] = []
    for number, (_, row) in enumerate(examples.iterrows(), start=1):
        lines.append(f"  #{number}")
        for column, value in row.items():
            text = _clip(value)
            if "\n" in text:
                lines.append(f"{_FIELD_INDENT}{column}:")
                lines += [f"{_VALUE_INDENT}{line}" for line in text.splitlines()]
            else:
                lines.append(f"{_FIELD_INDENT}{column}: {text if text else '(empty)'}")
    return lines


def _examples_html(examples: Any) -> str:
    """The examples as a table whose cells keep their line breaks (escaped text, ``pre-wrap``)."""
    cell = "style='white-space:pre-wrap;text-align:left;vertical-align:top'"
    head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in examples.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td {cell}>{html.escape(_clip(v))}</td>" for v in row) + "</tr>"
        for row in examples.itertuples(index=False)
    )
    return f"<table class='llm-magic-eval-examples'><tr>{head}</tr>{rows}</table>"
