"""Shared fixtures: a real InteractiveShell with llm_magic loaded, and a fresh session per test."""
from __future__ import annotations

import os

import pytest

# Tests never touch the network: hub look-ups must fail fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class ShellRunner:
    """Runs cells in a real ``InteractiveShell`` and re-raises their errors (jupysql style)."""

    def __init__(self, shell):
        self.shell = shell

    def run_cell(self, code: str):
        """Run ``code`` as a cell; return its result value or raise the cell's exception."""
        result = self.shell.run_cell(code)
        result.raise_error()
        return result.result

    def line(self, magic: str, line: str = ""):
        """Run a line magic by name (``ip.line("llm_info")``) and return its value."""
        return self.shell.run_line_magic(magic, line)

    def cell(self, magic: str, line: str, body: str):
        """Run a cell magic by name and return its value."""
        return self.shell.run_cell_magic(magic, line, body)

    @property
    def user_ns(self) -> dict:
        return self.shell.user_ns


@pytest.fixture
def session():
    """A fresh kernel session (``llm_magic.get_session()`` returns it during the test)."""
    from llm_magic.runtime.session import reset_session

    fresh = reset_session()
    yield fresh
    reset_session()


@pytest.fixture
def ip(session):
    """A real InteractiveShell with ``%load_ext llm_magic`` done and a fresh session."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "llm_magic")
    yield ShellRunner(shell)
