"""Imports run one way: magics -> session -> feature modules -> models, data, config.

Read from the source with ``scripts/import_graph.py`` (the script a developer runs to see the
graph), so function-level imports count like module-level ones; only ``if TYPE_CHECKING:``
imports, which never run, are left out.
"""
from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION = "llm_magic.runtime.session"
# The package's face and the magics; everything below them is handed the session's parts.
SESSION_IMPORTERS_ALLOWED = {"llm_magic", "llm_magic.runtime", SESSION}


def _load_graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


graph = _load_graph_module()


@pytest.fixture(scope="module")
def package():
    modules = graph.module_names()
    imports = graph.all_imports()
    return modules, imports


def _describe(component, edges, imports):
    lines = [" <-> ".join(component)]
    for imp in graph.cycle_edges(component, edges, imports):
        lines.append(f"  {imp.path.relative_to(ROOT)}:{imp.line} imports {imp.target}"
                     f" ({'in a function' if imp.in_function else 'at module level'})")
    return "\n".join(lines)


def test_no_import_cycle_inside_llm_magic(package):
    modules, imports = package
    edges = graph.graph(imports, modules)
    found = graph.cycles(edges)
    assert not found, "import cycles (break them by moving the shared part down a layer):\n" + "\n".join(
        _describe(component, edges, imports) for component in found)


def test_only_the_magics_and_the_package_face_import_the_session(package):
    _, imports = package
    importers = {imp.source for imp in imports if imp.target == SESSION}
    wrong = sorted(m for m in importers if m not in SESSION_IMPORTERS_ALLOWED
                   and not m.startswith("llm_magic.magics."))
    assert not wrong, (f"{', '.join(wrong)} import {SESSION}: a feature module takes the parts it "
                       "needs as arguments and returns values; the session calls it.")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_analysis_finds_a_cycle_hidden_in_a_function(tmp_path):
    # The checks above pass on a clean tree; this one shows they would fail on a cycle, however
    # it is spelled, and ignore what never runs.
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from pkg.top import Top  # types only: never runs, not an edge
            def helper():
                from . import mid  # a cycle hidden in a function is still a cycle
                return mid
            """,
        "pkg/mid.py": "from pkg.low import helper\n",
        "pkg/top.py": "import pkg.mid\nclass Top: ...\n",
        "pkg/sub/__init__.py": "from .leaf import x\n",
        "pkg/sub/leaf.py": "from ..top import Top\nx = 1\n",
    })
    modules = graph.module_names(tmp_path, "pkg")
    imports = graph.all_imports(tmp_path, "pkg")
    edges = graph.graph(imports, modules)
    assert graph.cycles(edges) == [["pkg.low", "pkg.mid"]]
    assert edges["pkg.low"] == {"pkg.mid"}  # the TYPE_CHECKING import of pkg.top is not an edge
    assert edges["pkg.sub"] == {"pkg.sub.leaf"} and edges["pkg.sub.leaf"] == {"pkg.top"}
    lazy = [imp for imp in imports if imp.in_function]
    assert [(imp.source, imp.target) for imp in lazy] == [("pkg.low", "pkg.mid")]


def test_the_analysis_reports_uncommented_lazy_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": """
            def f():
                import json
                # torch is heavy: load it on first use
                import torch
                import numpy  # in the same block as torch

                import pandas
                return json, torch, numpy, pandas

            def g():
                # both for the same reason
                import torch
                from transformers import AutoModel
                import peft
                return torch, AutoModel, peft
            """,
    })
    imports = graph.all_imports(tmp_path, "pkg")
    assert [imp.target for imp in graph.uncommented_lazy_imports(imports)] == ["pandas"]
