"""EvalReport renderings: examples keep their real line breaks in text and HTML."""
from __future__ import annotations

import re

import pandas as pd

from llm_magic.runtime.evaluation.report import EvalReport


def _report() -> EvalReport:
    examples = pd.DataFrame({
        "prompt": ["Instruction: add <b>\nInput: 2 & 2\nAnswer:", "Q: short\nA:"],
        "target": ["4", "yes"],
        "prediction": ["4\nand more", "no"],
    })
    return EvalReport("test", "text", 2, metrics={"exact_match": 0.5}, examples=examples)


def test_text_examples_show_real_line_breaks_indented():
    text = repr(_report())
    assert "\\n" not in text
    lines = text.splitlines()
    # Each line of a multi-line prompt is its own indented line, in order.
    first, second, third = (lines.index(next(line for line in lines if line.strip() == part))
                            for part in ("Instruction: add <b>", "Input: 2 & 2", "Answer:"))
    assert first + 1 == second and second + 1 == third
    assert all(lines[i].startswith("      ") for i in (first, second, third))
    assert any(line.strip() == "and more" and line.startswith("      ") for line in lines)
    assert any(line.strip() == "target: 4" for line in lines)


def test_html_examples_escape_text_and_keep_line_breaks():
    page = _report()._repr_html_()
    assert "\\n" not in page
    assert "Instruction: add &lt;b&gt;\nInput: 2 &amp; 2\nAnswer:" in page
    assert "<b>\nInput" not in page  # the prompt's markup is escaped, not rendered
    cells = re.findall(r"<td style='([^']*)'>Instruction: add", page)
    assert cells and "white-space:pre-wrap" in cells[0]


def test_long_example_values_are_clipped():
    report = EvalReport("test", "text", 1, examples=pd.DataFrame(
        {"prompt": ["word " * 400], "target": ["x"], "prediction": ["y"]}))
    assert "more characters" in repr(report) and "more characters" in report._repr_html_()
    assert len(repr(report)) < 1500
