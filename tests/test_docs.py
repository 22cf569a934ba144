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


def _section(page: str, heading: str) -> str:
    """The text of one ``## heading`` section of a Markdown page."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 3)
    return text[start:] if end == -1 else text[start:end]


def test_troubleshooting_documents_every_error_class():
    import inspect

    import llm_magic.errors as errors

    classes = {name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, errors.LlmMagicError)}
    section = _section("troubleshooting.md", "Error classes")
    rows = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert rows == classes


def test_troubleshooting_error_example_runs_and_prints_what_it_shows(session, capsys):
    section = _section("troubleshooting.md", "Error classes")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "troubleshooting.md", "exec"), {})
    out = capsys.readouterr().out
    # The comments in the example quote these outputs.
    assert "line 4: adapter.lora_alpha: unknown key `lora_alpha`. Did you mean `alpha`?" in out
    assert "fix the data: The data has no column 'answer'" in out
