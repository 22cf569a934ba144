"""Generated documentation stays in step with the code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_generator(*args: str) -> subprocess.CompletedProcess:
    # A fresh process: argparse fixes the help width when the magics are imported.
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_magics_reference.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_magics_reference_is_up_to_date():
    result = _run_generator("--check")
    assert result.returncode == 0, result.stderr + result.stdout


def test_magics_reference_covers_every_registered_magic():
    import importlib

    from llm_magic.magics import MAGIC_CLASSES

    page = (ROOT / "docs" / "magics-reference.md").read_text(encoding="utf-8")
    # "## %llm_config / %%llm_config" documents both forms.
    titles = {title for line in page.splitlines() if line.startswith("## ")
              for title in line[3:].split(" / ")}
    for module_name, class_name in MAGIC_CLASSES:
        cls = getattr(importlib.import_module(module_name), class_name)
        for kind, prefix in (("line", "%"), ("cell", "%%")):
            for name in cls.magics[kind]:
                assert f"{prefix}{name}" in titles, f"{prefix}{name} has no section"
    # The help of a flag appears verbatim, so the page documents real options.
    assert "--sample-every N" in page and "Generation flags:" in page


def test_magics_reference_summaries_are_sentences():
    # A summary is the help's first paragraph; one that ends by introducing examples ("Examples::")
    # would leave a dangling "::" in the table and in each section's first line.
    page = (ROOT / "docs" / "magics-reference.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| [`%")]
    firsts = [line for line in page.splitlines() if line.startswith("*line") or line.startswith("*cell")]
    assert rows and firsts
    for line in rows + firsts:
        assert "::" not in line.rstrip(" |"), line
