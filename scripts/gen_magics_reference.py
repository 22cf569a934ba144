"""Write docs/magics-reference.md from the magics' own help (what ``%magic?`` shows).

Every magic of every class in ``llm_magic.magics.MAGIC_CLASSES`` gets a section: its kind (line,
cell or both), its one-line summary and its full help text (the docstring, plus the usage and
options that ``@magic_arguments`` generates). ``tests/test_docs.py`` runs ``--check`` so the
committed page cannot drift from the code.

Usage::

    python scripts/gen_magics_reference.py          # rewrite docs/magics-reference.md
    python scripts/gen_magics_reference.py --check  # exit 1 if the committed file is stale
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "magics-reference.md"

# argparse wraps usage and option help to the terminal width, read when a magic's module is
# imported; fixing it here (before importing llm_magic) makes the page the same on every machine.
HELP_WIDTH = "100"

HEADER = """\
# Magics reference

Every magic that `%load_ext llm_magic` registers, with the help text that `%name?` shows in a
notebook. Generated from the code by `scripts/gen_magics_reference.py`; do not edit by hand
(`tests/test_docs.py` fails when this page and the code disagree).

Line magics (`%name`) take their arguments on the line; cell magics (`%%name`) also read the
cell below the magic line. Mistakes in flags or values are reported as one short message naming
the flag, without a traceback.
"""


def _magics() -> list[tuple[str, str, object]]:
    """``(name, kind, function)`` for every registered magic, in MAGIC_CLASSES order."""
    from llm_magic.magics import MAGIC_CLASSES

    found: list[tuple[str, str, object]] = []
    for module_name, class_name in MAGIC_CLASSES:
        cls = getattr(importlib.import_module(module_name), class_name)
        names: dict[str, dict] = {}
        for kind in ("line", "cell"):
            for magic_name, method_name in cls.magics[kind].items():
                names.setdefault(magic_name, {"kinds": [], "method": method_name})["kinds"].append(kind)
        for magic_name, entry in names.items():
            kind = "line and cell" if len(entry["kinds"]) == 2 else entry["kinds"][0]
            found.append((magic_name, kind, getattr(cls, entry["method"])))
    return found


def _help(func: object) -> str:
    """The help text of a magic function, as ``%name?`` shows it (common indentation removed)."""
    text = inspect.cleandoc(getattr(func, "__doc__", None) or "(no help text)")
    # IPython starts the generated usage with a reST literal-block marker; not useful in Markdown.
    if text.startswith("::\n"):
        text = text[3:].lstrip("\n").lstrip(" ")
    return text


def _summary(func: object) -> str:
    """The first sentence of the docstring (argparse puts the usage line first; skip it)."""
    parser = getattr(func, "parser", None)
    text = parser.description if parser is not None else getattr(func, "__doc__", "")
    first = inspect.cleandoc(text or "").split("\n\n")[0]
    # A paragraph may end by introducing its examples ("... Examples::"); the summary stops before.
    first = re.sub(r"\s*Examples?::\s*$", "", first)
    return " ".join(first.split()).replace("``", "`")


def _title(name: str, kind: str) -> str:
    if kind == "cell":
        return f"%%{name}"
    if kind == "line":
        return f"%{name}"
    return f"%{name} / %%{name}"


def _anchor(title: str) -> str:
    """The GitHub-style anchor of a heading made of ``title``."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def render() -> str:
    """The full Markdown page."""
    magics = _magics()
    lines = [HEADER, "| magic | kind | what it does |", "|---|---|---|"]
    for name, kind, func in magics:
        title = _title(name, kind)
        summary = _summary(func).replace("|", "\\|")
        lines.append(f"| [`{title}`](#{_anchor(title)}) | {kind} | {summary} |")
    for name, kind, func in magics:
        lines += ["", f"## {_title(name, kind)}", "", f"*{kind} magic.* {_summary(func)}", "",
                  "```text", _help(func), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) docs/magics-reference.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="Do not write; exit 1 if the committed file differs from the code.")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run python scripts/gen_magics_reference.py",
                  file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is up to date.")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    os.environ["COLUMNS"] = HELP_WIDTH
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
