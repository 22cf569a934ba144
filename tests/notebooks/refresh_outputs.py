"""Run the example notebooks and commit them clean: outputs only where nbval compares them.

nbval compares the outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` with the outputs saved in the
notebook, so those cells keep theirs; every other output and execution count is cleared to keep
the repository small and the diffs readable. Run it after changing a notebook::

    .venv/bin/python -m tests.notebooks.refresh_outputs                     # every listed notebook
    .venv/bin/python -m tests.notebooks.refresh_outputs examples/notebooks/quickstart.ipynb

The notebooks run the way the test suite runs them (see :func:`notebook_workdir`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Path(__file__).resolve().with_name("example_notebooks.txt")
CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"

#: Environment of a notebook kernel. One torch thread: with the tiny models, two threads
#: spin-wait for each other whenever another process holds a core (measured 10x slower on a
#: shared 2-core machine), and one idle core loses little.
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def listed_notebooks() -> list[Path]:
    """The notebooks named in ``example_notebooks.txt``, as absolute paths (missing ones included)."""
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    return [ROOT / line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block (a kernel started inside inherits them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def notebook_workdir() -> Iterator[Path]:
    """A scratch folder to run a notebook in, whose ``../data`` is ``examples/data``.

    The notebooks read ``../data/*.csv`` as they do next to ``examples/data``; run folders and
    saved models land in the scratch folder, not in the checkout. Removed afterwards.
    """
    scratch = Path(tempfile.mkdtemp(prefix="llm-magic-notebook-"))
    try:
        (scratch / "data").symlink_to(ROOT / "examples" / "data", target_is_directory=True)
        workdir = scratch / "notebooks"
        workdir.mkdir()
        yield workdir
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def clean(notebook) -> None:
    """Clear outputs and execution counts in place, except in checked cells.

    nbval treats a cell without an execution count as never run and refuses saved outputs
    there, so checked cells keep both.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECK_MARKER not in cell.source:
            cell.execution_count = None
            cell.outputs = []


def refresh(path: Path) -> float:
    """Execute ``path`` in a fresh kernel and save it cleaned; return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    started = time.monotonic()
    with notebook_workdir() as workdir, environ(**KERNEL_ENV):
        NotebookClient(notebook, timeout=1200, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    clean(notebook)
    nbformat.write(notebook, path)
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    """Refresh the notebooks given on the command line, or all listed ones."""
    paths = [Path(arg).resolve() for arg in argv] or listed_notebooks()
    for path in paths:
        seconds = refresh(path)
        print(f"{path.relative_to(ROOT)}: ran in {seconds:.0f} s, saved with checked outputs only")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
