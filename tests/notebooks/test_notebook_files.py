"""The example notebooks as files: all of them run under nbval, committed clean, checked.

Running them is nbval's job (see conftest.py); these checks are instant.
"""
from __future__ import annotations

import re

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from tests.notebooks.refresh_outputs import CHECK_MARKER, ROOT, listed_notebooks

NOTEBOOK_DIR = ROOT / "examples" / "notebooks"
SANITIZE = ROOT / "tests" / "notebooks" / "sanitize.cfg"


def test_every_example_notebook_is_listed_and_every_listed_one_exists():
    listed = set(listed_notebooks())
    on_disk = set(NOTEBOOK_DIR.glob("*.ipynb"))
    assert on_disk - listed == set(), "add these to tests/notebooks/example_notebooks.txt so they are tested"
    assert listed - on_disk == set(), "listed but missing"
    assert {p.name for p in listed} >= {"quickstart.ipynb", "in_context_learning.ipynb",
                                        "generation_playground.ipynb", "quantization_and_adapters.ipynb"}


@pytest.mark.parametrize("path", listed_notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_clean_and_checks_its_results(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and code[0].source.strip().startswith("%load_ext llm_magic")
    checked = [cell for cell in code if CHECK_MARKER in cell.source]
    # Each notebook asserts its outcome, and nbval compares what that cell prints.
    assert checked and all("assert " in cell.source for cell in checked)
    for cell in code:
        if cell in checked:
            # nbval compares only the outputs of cells that were run (have an execution count).
            assert cell.outputs and cell.execution_count, (
                f"{path.name}: a checked cell has no saved output to compare; run "
                "python -m tests.notebooks.refresh_outputs")
        else:
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: outputs are committed; clear them with "
                "python -m tests.notebooks.refresh_outputs")


def _sanitize(text: str) -> str:
    for pattern, replacement in get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8")):
        text = re.sub(pattern, replacement, text)
    return text


def test_sanitizers_blank_out_what_changes_between_runs():
    sample = ('run 20261127-105720-1: finished in 12.5 s, 3.2 MiB at 0x7f3a2b1c; '
              '"model_id": "0123456789abcdef0123456789abcdef" saved to /tmp/llm-magic-x/models/run/')
    other = ('run 20261128-010203-2: finished in 9 s, 8.0 MiB at 0x55aa00ff; '
             '"model_id": "fedcba9876543210fedcba9876543210" saved to /home/u/models/run/')
    assert _sanitize(sample) == _sanitize(other)
    # Words and plain numbers of the checked messages survive.
    assert _sanitize("4 rows, one continuation each.") == "4 rows, one continuation each."
