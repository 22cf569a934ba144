"""Run the example notebooks under nbval, exactly once per ``pytest tests`` run.

``make test`` runs ``pytest tests``, so notebooks under ``examples/notebooks`` would never be
collected by nbval's own ``--nbval`` hook (and adding that flag would also collect stray copies).
Instead, ``example_notebooks.txt`` in this folder lists the notebooks; pytest hands that file to
:func:`pytest_collect_file` here, which yields one nbval collector per listed notebook. nbval then
runs each notebook's cells in order in one fresh kernel, fails on any error, and compares the
outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` (lax mode) after the substitutions of
``sanitize.cfg``. A listed notebook that does not exist fails as a test of its own.

Each notebook runs in a scratch folder (with ``../data`` pointing at ``examples/data``), so run
folders and saved models never land in the checkout.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel
from nbval.plugin import IPyNbCell, IPyNbFile

from tests.notebooks.refresh_outputs import (
    KERNEL_ENV, MANIFEST, ROOT, environ, listed_notebooks, notebook_workdir,
)

SANITIZE = Path(__file__).resolve().with_name("sanitize.cfg")


class ExampleCell(IPyNbCell):
    """A notebook cell that also fails when a magic reported a usage error.

    IPython prints a magic's ``UsageError`` to stderr instead of raising it into the kernel's
    error channel, so plain nbval would pass such a cell (and a later cell would fail for a
    confusing reason, or none would).
    """

    def runtest(self):
        """Run the cell as nbval does, then look for a usage error in what it printed."""
        super().runtest()
        for output in getattr(self, "test_outputs", None) or []:
            if output.get("name") == "stderr" and "UsageError" in output.get("text", ""):
                self.raise_cell_error("A magic in the cell failed", output["text"].strip())


class ExampleNotebook(IPyNbFile):
    """One example notebook run by nbval in lax mode, in the kernel of this test environment."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Lax mode: only cells marked `# NBVAL_CHECK_OUTPUT` have their outputs compared.
        self.compare_outputs = False
        # Each notebook takes a minute or more on 2 cores.
        self.add_marker(pytest.mark.slow)
        self._cleanup = contextlib.ExitStack()

    def setup(self):
        """Start a kernel in a scratch folder whose ``../data`` is ``examples/data``."""
        workdir = self._cleanup.enter_context(notebook_workdir())
        # The kernel of this interpreter's environment, whatever kernelspec the notebook names.
        with environ(**KERNEL_ENV):
            self.kernel = RunningKernel(
                CURRENT_ENV_KERNEL_NAME, cwd=str(workdir),
                startup_timeout=self.config.option.nbval_kernel_startup_timeout,
            )
        self.setup_sanitize_files()

    def collect(self):
        """nbval's cells, as :class:`ExampleCell` items."""
        for cell in super().collect():
            yield ExampleCell.from_parent(self, name=cell.name, cell_num=cell.cell_num,
                                          cell=cell.cell, options=cell.options)

    def get_sanitize_files(self):
        """Always this folder's ``sanitize.cfg`` (nbval's command-line option is not needed)."""
        return [str(SANITIZE)]

    def teardown(self):
        """Stop the kernel and remove the scratch folder."""
        try:
            super().teardown()
        finally:
            self._cleanup.close()


class MissingNotebook(pytest.Item):
    """Stands in for a listed notebook that does not exist, and fails."""

    def __init__(self, *, notebook: Path, **kwargs):
        super().__init__(**kwargs)
        self.notebook = notebook

    def runtest(self):
        """Fail with the path and how to fix it."""
        raise FileNotFoundError(
            f"{self.notebook.relative_to(ROOT)} is listed in {MANIFEST.relative_to(ROOT)} but does "
            "not exist: add the notebook or remove the line."
        )

    def reportinfo(self):
        return self.path, None, f"missing notebook {self.notebook.name}"


class NotebookManifest(pytest.File):
    """``example_notebooks.txt``: collects one :class:`ExampleNotebook` per listed notebook."""

    def collect(self):
        """Yield the nbval collector of each listed notebook (a failing item if it is missing)."""
        for path in listed_notebooks():
            if path.is_file():
                yield ExampleNotebook.from_parent(self, path=path)
            else:
                yield MissingNotebook.from_parent(self, name=path.name, notebook=path)


def pytest_collect_file(file_path: Path, parent):
    """Collect the example notebooks through the manifest file of this folder."""
    if file_path == MANIFEST:
        return NotebookManifest.from_parent(parent, path=file_path)
    return None
