"""Execute a notebook headless (the README's main job) and write the executed copy to outputs/.

Usage: python scripts/run_notebook.py examples/notebooks/quickstart.ipynb
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(path: str) -> int:
    """Run every cell of ``path`` in a fresh kernel, print each cell's text output, save the result."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # One torch thread, as the notebook tests use (tests/notebooks/refresh_outputs.py KERNEL_ENV):
    # the embedded model's matmuls are tiny, and on shared cores two OpenMP threads spin-wait for
    # each other (measured 3-10x slower). Export OMP_NUM_THREADS to choose otherwise.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    started = time.time()
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    client.execute()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        print(f"--- [{index}] {cell.source.splitlines()[0] if cell.source else ''}")
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            if text:
                print(text if isinstance(text, str) else "".join(text))
    out_dir = Path("outputs")
    out_dir.mkdir(exist_ok=True)
    out_path = out_dir / Path(path).name
    nbformat.write(notebook, out_path)
    print(f"\nRan {path} in {time.time() - started:.0f} s; executed copy: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
